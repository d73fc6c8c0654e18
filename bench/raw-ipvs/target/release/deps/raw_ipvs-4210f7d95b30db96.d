/work/main/bench/raw-ipvs/target/release/deps/raw_ipvs-4210f7d95b30db96.d: src/main.rs

/work/main/bench/raw-ipvs/target/release/deps/raw_ipvs-4210f7d95b30db96: src/main.rs

src/main.rs:
