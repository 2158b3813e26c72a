//! `lvsd migrate` creates and upgrades a database, and says what it did.

use std::process::Command;

fn migrate(db: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lvsd")).arg("migrate").arg("--db").arg(db).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

#[test]
fn migrate_applies_once_then_reports_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lvsd.db");
    let (ok, first) = migrate(&db);
    assert!(ok, "{first}");
    assert!(first.contains("applied") && first.contains("migration"), "{first}");
    let (ok, second) = migrate(&db);
    assert!(ok, "{second}");
    assert!(second.contains("is up to date"), "{second}");

    let (ok, broken) = migrate(&dir.path().join("missing-dir/lvsd.db"));
    assert!(!ok, "a database that cannot be created is an error: {broken}");
    assert!(broken.contains("lvsd migrate"), "{broken}");
}
