fn main() -> std::process::ExitCode {
    lvsd::cli::main()
}
