//! Units. oVirt's API carries sizes as integer byte counts; `ByteSize` keeps that on the
//! wire and makes the unit explicit in code (no "is this MiB or bytes?" integers).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub const KIB: u64 = 1 << 10;
    pub const MIB: u64 = 1 << 20;
    pub const GIB: u64 = 1 << 30;

    pub const fn bytes(self) -> u64 {
        self.0
    }
    pub const fn from_mib(mib: u64) -> Self {
        Self(mib * Self::MIB)
    }
    pub const fn from_gib(gib: u64) -> Self {
        Self(gib * Self::GIB)
    }
    /// Whole MiB, rounded down (libvirt and QEMU take memory in KiB/MiB).
    pub const fn mib(self) -> u64 {
        self.0 / Self::MIB
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        if b >= Self::GIB && b.is_multiple_of(Self::GIB) {
            write!(f, "{} GiB", b / Self::GIB)
        } else if b >= Self::MIB && b.is_multiple_of(Self::MIB) {
            write!(f, "{} MiB", b / Self::MIB)
        } else {
            write!(f, "{b} B")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_size_converts_and_displays_exact_units() {
        assert_eq!(ByteSize::from_gib(1).bytes(), 1_073_741_824);
        assert_eq!(ByteSize::from_mib(1536).mib(), 1536);
        assert_eq!(ByteSize::from_gib(2).to_string(), "2 GiB");
        assert_eq!(ByteSize::from_mib(1536).to_string(), "1536 MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000 B");
    }
}
