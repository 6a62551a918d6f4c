//! The `snapsmith` binary: a thin shell over the library.

fn main() -> std::process::ExitCode {
    // The same binary is the initramfs's /init (see src/runtime/init.rs).
    if snapsmith::runtime::init::is_init() {
        return snapsmith::runtime::init::main();
    }
    snapsmith::cli::main()
}
