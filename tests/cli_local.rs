//! `lvsd show|apply|zero|flush|info` on a host without IPVS (the build
//! hosts): a plain message and exit code 1, never a panic or a hang. On a
//! host with IPVS these tests return early without touching its table; the
//! VM tests (vm/tests/1*.sh) cover that case.

use std::process::Command;

use lvsd::ipvs::{Error, NetlinkTable};

fn has_ipvs() -> bool {
    match NetlinkTable::open() {
        Ok(_) => true,
        Err(Error::Unavailable(_)) => false,
        Err(other) => panic!("looking up the IPVS family failed: {other}"),
    }
}

fn lvsd(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(args)
        .output()
        .expect("run lvsd");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_local_command_says_ipvs_is_missing() {
    if has_ipvs() {
        eprintln!("this host has IPVS: nothing to check here");
        return;
    }
    let spec = std::env::temp_dir().join(format!("lvsd-cli-local-{}.json", std::process::id()));
    std::fs::write(&spec, r#"{"services": [{"id": "tcp:10.1.0.1:80"}]}"#).unwrap();
    let spec = spec.to_str().unwrap().to_string();
    for args in [
        vec!["show"],
        vec!["show", "--json"],
        vec!["show", "--save"],
        vec!["show", "--stats", "--exact"],
        vec!["info"],
        vec!["flush"],
        vec!["zero"],
        vec!["zero", "-t", "10.1.0.1:80"],
        vec!["apply", &spec],
    ] {
        let (code, stdout, stderr) = lvsd(&args);
        assert_eq!(code, Some(1), "lvsd {args:?}: {stderr}");
        assert_eq!(stdout, "", "lvsd {args:?} printed to stdout");
        assert!(
            stderr.starts_with("lvsd: IPVS is not available on this host: "),
            "lvsd {args:?}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "one plain line: {stderr}");
    }
    let _ = std::fs::remove_file(&spec);
}

#[test]
fn bad_input_is_refused_before_the_kernel_is_asked() {
    let file = std::env::temp_dir().join(format!("lvsd-cli-bad-{}.json", std::process::id()));
    std::fs::write(
        &file,
        r#"{"services": [{"id": "tcp:10.1.0.1:80", "scheduler": "fastest"}]}"#,
    )
    .unwrap();
    let (code, _, stderr) = lvsd(&["apply", file.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("services[0].scheduler"), "{stderr}");
    let _ = std::fs::remove_file(&file);
    // Command-line mistakes are clap's: exit code 2.
    let (code, _, _) = lvsd(&["zero", "-t", "10.1.0.1:80", "-u", "10.1.0.1:53"]);
    assert_eq!(code, Some(2));
    let (code, _, _) = lvsd(&["show", "--stats", "--rate"]);
    assert_eq!(code, Some(2));
}
