//! The `snapsmith` binary: a thin shell over the library.

fn main() -> std::process::ExitCode {
    snapsmith::cli::main()
}
