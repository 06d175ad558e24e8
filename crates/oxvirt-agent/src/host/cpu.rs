//! The host CPU: model and flags from `/proc/cpuinfo`, topology from sysfs.
//!
//! The topology comes from `/sys/devices/system/cpu/cpuN/topology` rather than from
//! `/proc/cpuinfo`'s `physical id`/`core id`, because sysfs has it on every architecture and
//! for exactly the CPUs that are online; cpuinfo's fields are x86-only.

use super::{HostError, read_text};
use oxvirt_agent_api::v1::CpuInfo;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const PROC_CPUINFO: &str = "/proc/cpuinfo";
const SYS_CPU: &str = "/sys/devices/system/cpu";

/// Model name, flags and topology of the host's CPUs.
pub fn cpu_info() -> Result<CpuInfo, HostError> {
    cpu_info_from(Path::new(PROC_CPUINFO), Path::new(SYS_CPU))
}

/// [`cpu_info`] over another root (tests point it at fixtures).
fn cpu_info_from(cpuinfo_path: &Path, sys_cpu: &Path) -> Result<CpuInfo, HostError> {
    let (model, flags) = parse_cpuinfo(&read_text(cpuinfo_path)?);
    let online_path = sys_cpu.join("online");
    let online = parse_cpu_list(read_text(&online_path)?.trim())
        .map_err(|detail| HostError::Parse { path: online_path.clone(), detail })?;
    let mut places = Vec::with_capacity(online.len());
    for cpu in online {
        let topology = sys_cpu.join(format!("cpu{cpu}/topology"));
        // Without topology files (rare: some containers hide them) a CPU counts as its own
        // core in package 0, which is what the guest scheduler can rely on anyway.
        let package = read_number(&topology.join("physical_package_id"))?.unwrap_or(0);
        let core = read_number(&topology.join("core_id"))?.unwrap_or(i64::from(cpu));
        places.push(CpuPlace { package, core });
    }
    let topology = Topology::of(&places);
    Ok(CpuInfo {
        model: model.unwrap_or_else(|| "unknown".to_owned()),
        flags,
        sockets: topology.sockets,
        cores_per_socket: topology.cores_per_socket,
        threads_per_core: topology.threads_per_core,
        online_cpus: topology.online_cpus,
    })
}

/// Reads a sysfs number; `None` if the file does not exist.
fn read_number(path: &Path) -> Result<Option<i64>, HostError> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.trim().parse().map(Some).map_err(|e| HostError::Parse {
            path: path.to_owned(),
            detail: format!("'{}' is not a number: {e}", text.trim()),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(HostError::Read { path: path.to_owned(), source }),
    }
}

/// The first CPU's model name and flags. Other architectures than x86 name the fields
/// differently; the first one present wins.
fn parse_cpuinfo(text: &str) -> (Option<String>, Vec<String>) {
    let mut model = None;
    let mut flags = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "model name" | "cpu model" | "Model" | "cpu" if model.is_none() && !value.is_empty() => {
                model = Some(value.to_owned());
            }
            "flags" | "Features" if flags.is_none() => {
                flags = Some(value.split_whitespace().map(str::to_owned).collect());
            }
            _ => {}
        }
        if model.is_some() && flags.is_some() {
            break;
        }
    }
    (model, flags.unwrap_or_default())
}

/// Parses the kernel's CPU list format (`0-3,8,10-11`).
fn parse_cpu_list(text: &str) -> Result<Vec<u32>, String> {
    let mut cpus = BTreeSet::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let number = |s: &str| s.trim().parse::<u32>().map_err(|e| format!("'{s}' in CPU list '{text}': {e}"));
        match part.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (number(first)?, number(last)?);
                if first > last {
                    return Err(format!("range '{part}' in CPU list '{text}' runs backwards"));
                }
                cpus.extend(first..=last);
            }
            None => {
                cpus.insert(number(part)?);
            }
        }
    }
    if cpus.is_empty() {
        return Err(format!("CPU list '{text}' names no CPU"));
    }
    Ok(cpus.into_iter().collect())
}

/// Where one online CPU sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CpuPlace {
    package: i64,
    core: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Topology {
    sockets: u32,
    cores_per_socket: u32,
    threads_per_core: u32,
    online_cpus: u32,
}

impl Topology {
    /// Sockets are distinct packages; cores per socket and threads per core are the largest
    /// seen, so that an uneven host (a core with one sibling offline) is not under-reported.
    fn of(places: &[CpuPlace]) -> Self {
        let mut threads: BTreeMap<(i64, i64), u32> = BTreeMap::new();
        for place in places {
            *threads.entry((place.package, place.core)).or_default() += 1;
        }
        let mut cores: BTreeMap<i64, u32> = BTreeMap::new();
        for (package, _) in threads.keys() {
            *cores.entry(*package).or_default() += 1;
        }
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Topology {
            sockets: count(cores.len()).max(1),
            cores_per_socket: cores.values().copied().max().unwrap_or(1),
            threads_per_core: threads.values().copied().max().unwrap_or(1),
            online_cpus: count(places.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPYC_CPUINFO: &str = "\
processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu vme de pse tsc msr pae svm lm
bugs\t\t: sysret_ss_attrs

processor\t: 1
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu vme de pse tsc msr pae svm lm
";

    #[test]
    fn cpuinfo_gives_the_first_model_and_flags() {
        let (model, flags) = parse_cpuinfo(EPYC_CPUINFO);
        assert_eq!(model.as_deref(), Some("AMD EPYC"));
        assert_eq!(flags, ["fpu", "vme", "de", "pse", "tsc", "msr", "pae", "svm", "lm"]);
    }

    #[test]
    fn cpuinfo_of_arm_uses_features() {
        let text = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm\nCPU part\t: 0xd0c\n";
        let (model, flags) = parse_cpuinfo(text);
        assert_eq!(model, None);
        assert_eq!(flags, ["fp", "asimd", "evtstrm"]);
    }

    #[test]
    fn cpu_lists_expand_ranges_and_singles() {
        assert_eq!(parse_cpu_list("0-3,8,10-11"), Ok(vec![0, 1, 2, 3, 8, 10, 11]));
        assert_eq!(parse_cpu_list("0"), Ok(vec![0]));
        assert!(parse_cpu_list("3-1").expect_err("must fail").contains("backwards"));
        assert!(parse_cpu_list("x").expect_err("must fail").contains("'x'"));
        assert!(parse_cpu_list("").is_err());
    }

    #[test]
    fn topology_counts_packages_cores_and_threads() {
        // 2 sockets × 2 cores × 2 threads.
        let places: Vec<CpuPlace> = (0..8).map(|cpu| CpuPlace { package: cpu / 4, core: (cpu % 4) / 2 }).collect();
        let t = Topology::of(&places);
        assert_eq!(t, Topology { sockets: 2, cores_per_socket: 2, threads_per_core: 2, online_cpus: 8 });

        // One sibling offline: still 2 threads per core, 3 CPUs online.
        let uneven =
            [CpuPlace { package: 0, core: 0 }, CpuPlace { package: 0, core: 0 }, CpuPlace { package: 0, core: 1 }];
        let t = Topology::of(&uneven);
        assert_eq!(t, Topology { sockets: 1, cores_per_socket: 2, threads_per_core: 2, online_cpus: 3 });
    }

    /// A fixture sysfs: 1 socket, 2 cores, 2 threads each; CPU 3 offline.
    #[test]
    fn cpu_info_reads_a_sysfs_tree() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cpuinfo = dir.path().join("cpuinfo");
        std::fs::write(&cpuinfo, EPYC_CPUINFO).expect("write cpuinfo");
        let sys = dir.path().join("cpu");
        std::fs::create_dir_all(&sys).expect("mkdir");
        std::fs::write(sys.join("online"), "0-2\n").expect("write online");
        for (cpu, core) in [(0, 0), (1, 0), (2, 1), (3, 1)] {
            let topo = sys.join(format!("cpu{cpu}/topology"));
            std::fs::create_dir_all(&topo).expect("mkdir topology");
            std::fs::write(topo.join("physical_package_id"), "0\n").expect("write package");
            std::fs::write(topo.join("core_id"), format!("{core}\n")).expect("write core");
        }
        let info = cpu_info_from(&cpuinfo, &sys).expect("cpu info");
        assert_eq!(info.model, "AMD EPYC");
        assert!(info.flags.contains(&"svm".to_owned()));
        assert_eq!((info.sockets, info.cores_per_socket, info.threads_per_core, info.online_cpus), (1, 2, 2, 3));
    }

    #[test]
    fn a_garbled_sysfs_file_is_a_parse_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cpuinfo = dir.path().join("cpuinfo");
        std::fs::write(&cpuinfo, EPYC_CPUINFO).expect("write cpuinfo");
        std::fs::write(dir.path().join("online"), "zero\n").expect("write online");
        let err = cpu_info_from(&cpuinfo, dir.path()).expect_err("must fail");
        assert!(matches!(err, HostError::Parse { .. }), "{err:?}");
        assert!(err.to_string().contains("online"), "{err}");
    }
}
