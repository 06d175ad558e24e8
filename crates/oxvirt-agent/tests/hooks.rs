//! The hook runner against real shell scripts in a temp dir: VDSM's contract, end to end.

use oxvirt_agent::hooks::{HookError, HookOutcome, HookPoint, HookVm, Hooks};
use oxvirt_testkit::wait;
use oxvirt_types::{ErrorKind, VmId};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const DOMXML: &str = "<domain type='qemu'><name>ORIGINAL</name></domain>";

/// A hooks directory in a temp dir, plus a place for the scripts' marker files.
struct HookDir {
    tmp: tempfile::TempDir,
}

impl HookDir {
    fn new() -> Self {
        Self { tmp: tempfile::tempdir().expect("tempdir") }
    }

    fn hooks(&self) -> Hooks {
        Hooks::new(self.tmp.path().join("hooks"))
    }

    /// A marker path scripts may write (not inside the hooks dir).
    fn marker(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Writes `<hooks>/<point>/<name>` as a `/bin/sh` script with `mode`.
    fn script_with_mode(&self, point: HookPoint, name: &str, body: &str, mode: u32) {
        let dir = self.tmp.path().join("hooks").join(point.as_str());
        std::fs::create_dir_all(&dir).expect("hook point dir");
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod script");
    }

    fn script(&self, point: HookPoint, name: &str, body: &str) {
        self.script_with_mode(point, name, body, 0o755);
    }
}

fn no_props() -> BTreeMap<String, String> {
    BTreeMap::new()
}

async fn run_start(hooks: &Hooks, props: &BTreeMap<String, String>) -> Result<HookOutcome, HookError> {
    let vm = HookVm { id: VmId::new_random(), name: "vm1", custom_properties: props };
    hooks.run(HookPoint::BeforeVmStart, &vm, DOMXML).await
}

fn sh_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

#[tokio::test]
async fn hooks_run_in_byte_wise_name_order() {
    let d = HookDir::new();
    let log = sh_quote(&d.marker("order.log"));
    // Byte-wise: digits < upper case < lower case.
    for name in ["b_lower", "B_upper", "20_second", "10_first", "a_lower"] {
        d.script(HookPoint::BeforeVmStart, name, &format!("echo {name} >> {log}"));
    }
    let outcome = run_start(&d.hooks(), &no_props()).await.expect("hooks succeed");
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
    assert_eq!(outcome.domxml, DOMXML, "no hook edited the XML");
    let ran = std::fs::read_to_string(d.marker("order.log")).expect("hooks wrote the log");
    let expected = ["10_first", "20_second", "B_upper", "a_lower", "b_lower"];
    assert_eq!(ran.lines().collect::<Vec<_>>(), expected);

    let installed = d.hooks().installed();
    assert_eq!(installed.len(), 1, "only before_vm_start has hooks: {installed:?}");
    assert_eq!(installed["before_vm_start"], expected);
}

#[tokio::test]
async fn an_edit_of_the_xml_is_seen_by_the_next_hook_and_the_caller() {
    let d = HookDir::new();
    let seen = sh_quote(&d.marker("seen.xml"));
    let path_file = sh_quote(&d.marker("domxml-path"));
    let mode_file = sh_quote(&d.marker("domxml-mode"));
    d.script(HookPoint::BeforeVmStart, "10_edit", r#"sed -i 's/ORIGINAL/EDITED/' "$_hook_domxml""#);
    d.script(
        HookPoint::BeforeVmStart,
        "20_check",
        &format!(
            r#"cp "$_hook_domxml" {seen}
echo "$_hook_domxml" > {path_file}
stat -c %a "$_hook_domxml" > {mode_file}
grep -q EDITED "$_hook_domxml" || {{ echo "edit not visible" >&2; exit 2; }}"#
        ),
    );
    let outcome = run_start(&d.hooks(), &no_props()).await.expect("hooks succeed");
    let edited = DOMXML.replace("ORIGINAL", "EDITED");
    assert_eq!(outcome.domxml, edited, "the caller gets the edited XML");
    assert_eq!(std::fs::read_to_string(d.marker("seen.xml")).expect("copy"), edited, "the next hook saw the edit");
    assert_eq!(std::fs::read_to_string(d.marker("domxml-mode")).expect("mode").trim(), "600");
    let domxml_path = std::fs::read_to_string(d.marker("domxml-path")).expect("path");
    assert!(!Path::new(domxml_path.trim()).exists(), "the temp file {} was not removed", domxml_path.trim());
}

#[tokio::test]
async fn custom_properties_and_the_vm_identity_arrive_in_a_cleared_environment() {
    let d = HookDir::new();
    let out = sh_quote(&d.marker("env"));
    d.script(
        HookPoint::AfterVmStart,
        "10_env",
        &format!(
            r#"printf '%s\n' "$vmId" "$vmName" "$sap_agent" "$tricky" "${{LD_PRELOAD:-unset}}" "${{BASH_ENV:-unset}}" "$PATH" "${{CARGO_MANIFEST_DIR:-unset}}" > {out}"#
        ),
    );
    let props: BTreeMap<String, String> = [
        ("sap_agent", "true"),
        ("tricky", r#"a b 'c' "d" $HOME &"#),
        ("LD_PRELOAD", "/nonexistent/evil.so"),
        ("BASH_ENV", "/nonexistent/evil.sh"),
        ("not-an-env-name", "x"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let id = VmId::new_random();
    let vm = HookVm { id, name: "web & db", custom_properties: &props };
    let outcome = d.hooks().run(HookPoint::AfterVmStart, &vm, DOMXML).await.expect("hook succeeds");

    let env = std::fs::read_to_string(d.marker("env")).expect("hook wrote its env");
    let lines: Vec<_> = env.lines().collect();
    assert_eq!(
        lines,
        [
            id.to_string().as_str(),
            "web & db",
            "true",
            r#"a b 'c' "d" $HOME &"#,
            "unset",
            "unset",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            // The test runner sets it for this process: the agent's environment does not leak.
            "unset",
        ]
    );
    assert_eq!(outcome.warnings.len(), 3, "{:?}", outcome.warnings);
    assert!(outcome.warnings.iter().any(|w| w.contains("'BASH_ENV'")), "{:?}", outcome.warnings);
    assert!(outcome.warnings.iter().any(|w| w.contains("'not-an-env-name'")), "{:?}", outcome.warnings);
    assert!(outcome.warnings.iter().any(|w| w.contains("'LD_PRELOAD'")), "{:?}", outcome.warnings);
}

#[tokio::test]
async fn exit_1_continues_the_chain_with_a_warning() {
    let d = HookDir::new();
    let after = d.marker("after-ran");
    d.script(HookPoint::BeforeVmStart, "10_soft", "echo 'quota service slow' >&2; exit 1");
    d.script(HookPoint::BeforeVmStart, "20_after", &format!("touch {}", sh_quote(&after)));
    let outcome = run_start(&d.hooks(), &no_props()).await.expect("exit 1 does not stop the chain");
    assert!(after.exists(), "the hook after the failing one ran");
    assert_eq!(outcome.warnings.len(), 1, "{:?}", outcome.warnings);
    let warning = &outcome.warnings[0];
    assert!(warning.contains("10_soft") && warning.contains("quota service slow"), "{warning}");
}

#[tokio::test]
async fn a_reserved_exit_code_is_treated_like_1_and_says_so() {
    let d = HookDir::new();
    let after = d.marker("after-ran");
    d.script(HookPoint::AfterVmDestroy, "10_odd", "echo odd >&2; exit 3");
    d.script(HookPoint::AfterVmDestroy, "20_after", &format!("touch {}", sh_quote(&after)));
    let vm = HookVm { id: VmId::new_random(), name: "vm1", custom_properties: &no_props() };
    let outcome = d.hooks().run(HookPoint::AfterVmDestroy, &vm, DOMXML).await.expect("exit 3 continues");
    assert!(after.exists());
    assert_eq!(outcome.warnings.len(), 1, "{:?}", outcome.warnings);
    assert!(outcome.warnings[0].contains("unexpected exit code 3"), "{}", outcome.warnings[0]);
}

#[tokio::test]
async fn exit_2_stops_the_chain_with_the_hooks_message() {
    let d = HookDir::new();
    let after = d.marker("after-ran");
    d.script(HookPoint::BeforeVmStart, "10_veto", "echo '  license server unreachable  ' >&2; exit 2");
    d.script(HookPoint::BeforeVmStart, "20_after", &format!("touch {}", sh_quote(&after)));
    let err = run_start(&d.hooks(), &no_props()).await.expect_err("exit 2 stops the chain");
    match &err {
        HookError::Failed { point, script, exit_code, message } => {
            assert_eq!(*point, HookPoint::BeforeVmStart);
            assert_eq!(script, "10_veto");
            assert_eq!(*exit_code, 2);
            assert_eq!(message, "license server unreachable");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().contains("license server unreachable"), "{err}");
    assert!(!after.exists(), "the hook after the vetoing one must not run");
}

#[tokio::test]
async fn non_executable_files_and_dotfiles_are_skipped() {
    let d = HookDir::new();
    let ran = d.marker("skipped-ran");
    let veto = format!("touch {}; exit 2", sh_quote(&ran));
    d.script_with_mode(HookPoint::BeforeVmStart, "10_not_executable", &veto, 0o644);
    d.script(HookPoint::BeforeVmStart, ".20_hidden", &veto);
    std::fs::create_dir_all(d.tmp.path().join("hooks/before_vm_start/30_a_directory")).expect("mkdir");
    d.script(HookPoint::BeforeVmStart, "40_ok", "exit 0");
    let outcome = run_start(&d.hooks(), &no_props()).await.expect("only 40_ok runs");
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
    assert!(!ran.exists(), "a skipped file ran");
    assert_eq!(d.hooks().installed()["before_vm_start"], ["40_ok"]);
}

#[tokio::test]
async fn a_missing_hook_directory_means_no_hooks() {
    let d = HookDir::new();
    let hooks = d.hooks(); // <tmp>/hooks does not exist
    assert!(hooks.installed().is_empty());
    let outcome = run_start(&hooks, &no_props()).await.expect("no hooks is fine");
    assert_eq!(outcome, HookOutcome { domxml: DOMXML.to_owned(), warnings: vec![] });
}

#[tokio::test]
async fn a_hook_leaving_malformed_xml_stops_the_chain() {
    let d = HookDir::new();
    let after = d.marker("after-ran");
    d.script(HookPoint::BeforeVmStart, "10_break", r#"echo '<domain><name>' > "$_hook_domxml""#);
    d.script(HookPoint::BeforeVmStart, "20_after", &format!("touch {}", sh_quote(&after)));
    let err = run_start(&d.hooks(), &no_props()).await.expect_err("malformed XML stops the chain");
    assert!(matches!(&err, HookError::MalformedDomxml { script, .. } if script == "10_break"), "{err:?}");
    assert!(!after.exists());
}

/// True while `pid` names a live (non-zombie) process.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    }
}

fn read_pid(path: &Path) -> i32 {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.trim().parse().unwrap_or_else(|e| panic!("pid in {}: {text:?}: {e}", path.display()))
}

#[tokio::test]
async fn a_hook_over_the_timeout_is_killed_with_what_it_started() {
    let d = HookDir::new();
    let (pid_file, bg_pid_file, after) = (d.marker("hook.pid"), d.marker("bg.pid"), d.marker("after-ran"));
    // A background child holding the hook's stderr, then the hook itself becomes `sleep`.
    d.script(
        HookPoint::BeforeVmStart,
        "10_hang",
        &format!(
            "sleep 30 &\necho $! > {bg}\necho $$ > {pid}\nexec sleep 30",
            bg = sh_quote(&bg_pid_file),
            pid = sh_quote(&pid_file)
        ),
    );
    d.script(HookPoint::BeforeVmStart, "20_after", &format!("touch {}", sh_quote(&after)));
    let timeout = Duration::from_secs(2);
    let hooks = d.hooks().with_timeout(timeout);

    let started = Instant::now();
    let err = run_start(&hooks, &no_props()).await.expect_err("the hook times out");
    let elapsed = started.elapsed();
    assert!(matches!(&err, HookError::TimedOut { script, .. } if script == "10_hang"), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(elapsed >= timeout && elapsed < Duration::from_secs(20), "took {elapsed:?}");
    assert!(!after.exists(), "a timeout stops the chain");

    let hook_pid = read_pid(&pid_file);
    let bg_pid = read_pid(&bg_pid_file);
    // The hook was our child and is reaped before `run` returns.
    assert!(!alive(hook_pid), "the hook's `sleep` (pid {hook_pid}) survived");
    // Its background child was reparented; it dies of the same SIGKILL, reaped by whoever adopts it.
    wait::until("the hook's background sleep to die", Duration::from_secs(10), || (!alive(bg_pid)).then_some(()))
        .unwrap_or_else(|e| panic!("pid {bg_pid}: {e}"));
}
