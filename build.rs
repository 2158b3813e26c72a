//! Compiles the gRPC API (`proto/lvs/v1/*.proto`) without a system `protoc`:
//! protox parses the files into a descriptor set, tonic-prost-build generates
//! the messages, client and server from it, and the encoded set is written to
//! `OUT_DIR/lvs_v1_descriptor.bin` for the reflection service.

use std::path::PathBuf;

use protox::prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    // sqlx::migrate! embeds migrations/{sqlite,postgres} at build time.
    println!("cargo:rerun-if-changed=migrations");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    let mut protos: Vec<PathBuf> = std::fs::read_dir("proto/lvs/v1")?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    protos.retain(|path| path.extension().is_some_and(|ext| ext == "proto"));
    protos.sort();

    let fds = protox::compile(&protos, ["proto"])?;
    std::fs::write(out_dir.join("lvs_v1_descriptor.bin"), fds.encode_to_vec())?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
