//! The `snapsmith` binary: a thin shell over the library.

fn main() -> std::process::ExitCode {
    // The same binary is the initramfs's /init (see src/runtime/pid1.rs).
    if snapsmith::runtime::pid1::is_init() {
        return snapsmith::runtime::pid1::main();
    }
    snapsmith::cli::main()
}
