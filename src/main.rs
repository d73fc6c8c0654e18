fn main() {
    std::process::exit(portfwd::cli::main());
}
