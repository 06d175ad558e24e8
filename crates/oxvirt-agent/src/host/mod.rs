//! What this host is: CPU, memory, NICs, whether KVM works, and host statistics (to be written).
