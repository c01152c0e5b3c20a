//! Count words read from standard input.
use std::collections::HashMap;
use std::io::{self, BufRead};

/// Word counts, most frequent first.
pub fn tally<I: Iterator<Item = String>>(lines: I) -> Vec<(String, usize)> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for line in lines {
        for word in line.split_whitespace() {
            *counts.entry(word.to_lowercase()).or_insert(0) += 1;
        }
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

fn main() {
    let stdin = io::stdin();
    let lines = stdin.lock().lines().map_while(Result::ok);
    for (word, n) in tally(lines).into_iter().take(20) {
        println!("{n:6} {word}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        let v = tally(vec!["a b a".to_string()].into_iter());
        assert_eq!(v[0], ("a".to_string(), 2));
    }
}
