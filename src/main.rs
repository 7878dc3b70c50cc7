//! `taskmaster`: see taskmaster(1). Everything is in the library (its overview is in lib.rs).

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    taskmaster::taskmaster(&args)
}
