//! Bounded, deterministic mutation fuzzing of the assertion codec (runs in every `cargo test`):
//! real assertions mutated by byte flips, insertions, deletions, splices and line shuffles,
//! each checked with the same property as the cargo-fuzz target.

mod support;

use snapsmith::assertion::fuzzcheck::check_codec;
use support::rng::Rng;

const INTERESTING: &[&[u8]] = &[
    b"\n",
    b"\n\n",
    b" ",
    b"  ",
    b"    ",
    b"-",
    b":",
    b": ",
    b"  -\n",
    b"body-length: 3\n",
    b"\xc3\xa9",
    b"\xff",
    b"=",
    b"type: model\n",
    b"\n  k:\n    - x",
    b"0",
];

fn mutate(rng: &mut Rng, seed: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(6) {
            0 if !data.is_empty() => {
                let i = at.min(data.len() - 1);
                data[i] ^= 1u8 << rng.below(8);
            }
            1 => {
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                data.splice(at..at, piece.iter().copied());
            }
            2 => {
                let end = (at + rng.below(16)).min(data.len());
                data.drain(at..end);
            }
            3 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                let to = (from + rng.below(200)).min(other.len());
                data.splice(at..at, other[from..to].iter().copied());
            }
            4 => {
                let mut lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
                if lines.len() > 2 {
                    let (a, b) = (rng.below(lines.len()), rng.below(lines.len()));
                    lines.swap(a, b);
                }
                data = lines.join(&b'\n');
            }
            _ => data.truncate(at),
        }
    }
    data
}

fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut dirs = vec![support::repo().join("models")];
    if let Ok(corpus) = std::env::var("SNAPSMITH_CORPUS") {
        dirs.push(std::path::PathBuf::from(corpus).join("models"));
    }
    for dir in dirs {
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort();
        for p in paths {
            if p.extension().is_some_and(|e| e == "model" || e == "assert") {
                out.push(std::fs::read(p).unwrap());
            }
        }
    }
    out
}

#[test]
fn mutated_assertions_never_break_the_codec() {
    let seeds = seeds();
    assert!(seeds.len() >= 3);
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let rounds = std::env::var("SNAPSMITH_FUZZ_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20_000);
    for _ in 0..rounds {
        let seed = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, seed, &seeds);
        let result = std::panic::catch_unwind(|| check_codec(&input));
        assert!(
            result.is_ok(),
            "codec property broken on input:\n{:?}",
            String::from_utf8_lossy(&input)
        );
    }
}

#[test]
fn seeds_satisfy_the_property() {
    for seed in seeds() {
        check_codec(&seed);
    }
}
