//! Kernel tests: every `vm/tests/*.sh` runs inside its own qemu VM booting a
//! Debian cloud kernel with IPVS (the build hosts' kernels have none).
//!
//! One trial per script, named after the file stem.  Each trial makes sure
//! the VM image exists (`vm/setup.sh`, once per process; the script itself
//! takes a lock, so concurrent test processes are safe), then runs
//! `vm/run.sh --bin <lvsd> <script>` and fails with the tail of the console
//! output when the script fails.  A trial that cannot run (setup fails, no
//! qemu, no kernel) fails: nothing is skipped silently.
//!
//! Needs root when vm/setup.sh has packages to install.  The full console
//! log of each trial is kept in `${LVSD_VM_CACHE:-target/vm}/logs/<name>.log`.
//! With `--nocapture` (which cargo-nextest always passes) the console is
//! also streamed.  Environment knobs of vm/run.sh (LVSD_VM_TIMEOUT,
//! LVSD_VM_MEM, LVSD_VM_ACCEL, ...) pass through; see vm/README.md.
//!
//! Run one:  cargo test --test kernel -- 01-lab-nat-ipvsadm
//!     or:  cargo nextest run --test kernel 01-lab-nat-ipvsadm

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use libtest_mimic::{Arguments, Failed, Trial};

/// Lines of console output quoted in a failure message.
const TAIL_LINES: usize = 80;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn cache_dir() -> PathBuf {
    match std::env::var_os("LVSD_VM_CACHE") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => root().join("target/vm"),
    }
}

fn main() {
    let args = Arguments::from_args();
    let nocapture = args.nocapture;
    let dir = root().join("vm/tests");

    let trials = match list_scripts(&dir) {
        Ok(scripts) if !scripts.is_empty() => scripts
            .into_iter()
            .map(|(name, path)| {
                let log_name = name.clone();
                Trial::test(name, move || run_script(&log_name, &path, nocapture))
            })
            .collect(),
        Ok(_) => vec![Trial::test("vm-tests", move || {
            Err(format!("no test scripts (*.sh) in {}", dir.display()).into())
        })],
        Err(e) => vec![Trial::test("vm-tests", move || {
            Err(format!("cannot list {}: {e}", dir.display()).into())
        })],
    };
    libtest_mimic::run(&args, trials).exit();
}

/// `(stem, path)` of every `*.sh` in `dir`, sorted by name.
fn list_scripts(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut scripts = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "sh")
            && path.is_file()
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            scripts.push((stem.to_owned(), path.clone()));
        }
    }
    scripts.sort();
    Ok(scripts)
}

/// Runs `bash SCRIPT ARGS...` with stdout and stderr going to `log`; with
/// `nocapture` they are also copied to our stdout as they come.
fn run_logged(
    script: &Path,
    args: &[&std::ffi::OsStr],
    log: &Path,
    nocapture: bool,
) -> Result<ExitStatus, String> {
    if let Some(parent) = log.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let mut file =
        File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let mut cmd = Command::new("bash");
    cmd.arg(script).args(args).stdin(Stdio::null());
    let spawn_err = |e: std::io::Error| format!("cannot run bash {}: {e}", script.display());
    if !nocapture {
        let err = file
            .try_clone()
            .map_err(|e| format!("cannot dup {}: {e}", log.display()))?;
        cmd.stdout(file).stderr(err);
        return cmd.status().map_err(spawn_err);
    }
    // One pipe for both streams keeps their order; copy it to the log and
    // to our stdout (print! so the test harness sees it).
    let (mut reader, writer) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
    let writer2 = writer.try_clone().map_err(|e| format!("pipe: {e}"))?;
    cmd.stdout(writer).stderr(writer2);
    let mut child = cmd.spawn().map_err(spawn_err)?;
    drop(cmd); // close our copies of the write end, or the reader never ends
    let mut buf = [0u8; 8192];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let _ = file.write_all(&buf[..n]);
                print!("{}", String::from_utf8_lossy(&buf[..n]));
                let _ = std::io::stdout().flush();
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("reading the output of {}: {e}", script.display())),
        }
    }
    child.wait().map_err(spawn_err)
}

fn describe(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => format!("{status} (killed by a signal)"),
    }
}

fn tail(log: &Path) -> String {
    match fs::read(log) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(TAIL_LINES);
            format!(
                "--- last {} lines of {} ---\n{}",
                lines.len() - start,
                log.display(),
                lines[start..].join("\n")
            )
        }
        Err(e) => format!("(cannot read {}: {e})", log.display()),
    }
}

/// `vm/setup.sh`, once per process (its log is named after the trial that
/// ran it: concurrent test processes must not share one log file).
fn setup(name: &str, nocapture: bool) -> Result<(), String> {
    static SETUP: OnceLock<Result<(), String>> = OnceLock::new();
    SETUP
        .get_or_init(|| {
            let log = cache_dir().join("logs").join(format!("{name}.setup.log"));
            let script = root().join("vm/setup.sh");
            let status = run_logged(&script, &[], &log, nocapture)
                .map_err(|e| format!("vm/setup.sh: {e}"))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!(
                    "vm/setup.sh failed ({}); kernel tests cannot run\n{}",
                    describe(status),
                    tail(&log)
                ))
            }
        })
        .clone()
}

fn run_script(name: &str, script: &Path, nocapture: bool) -> Result<(), Failed> {
    setup(name, nocapture)?;
    let log = cache_dir().join("logs").join(format!("{name}.log"));
    let lvsd = Path::new(env!("CARGO_BIN_EXE_lvsd"));
    let run = root().join("vm/run.sh");
    let started = Instant::now();
    let status = run_logged(
        &run,
        &["--bin".as_ref(), lvsd.as_os_str(), script.as_os_str()],
        &log,
        nocapture,
    )?;
    if status.success() {
        return Ok(());
    }
    Err(format!(
        "{} failed in the VM ({}, after {:.1}s)\n{}",
        script.strip_prefix(root()).unwrap_or(script).display(),
        describe(status),
        started.elapsed().as_secs_f64(),
        tail(&log)
    )
    .into())
}
