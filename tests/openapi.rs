//! The checked-in OpenAPI document must be what the code generates.

#[test]
fn checked_in_openapi_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/lvsd.json");
    let checked_in = std::fs::read_to_string(path).expect("openapi/lvsd.json exists");
    let generated = lvsd::api::rest::openapi_json();
    assert!(
        checked_in == generated,
        "openapi/lvsd.json is out of date: regenerate it with `cargo run -- openapi > openapi/lvsd.json`"
    );
}
