/work/main/bench/raw-ipvs/target/release/raw-ipvs: /work/main/bench/raw-ipvs/src/main.rs
