//! The order in which a benchmark's rows run in each round.
//!
//! Every row runs once a round, interleaved, so that the machine's drift
//! hits all alike. What ran just before a row matters too: after another
//! run of cradle its pages and the kernel's paths are warm, after runc's
//! or crun's they are not. A rotation (`(round + k) % count`) runs row
//! `i` right after row `i - 1` in every round but one, so a row took the
//! same neighbour's leftovers each time: in the views benchmark `cradle
//! run --privileged` always came after `cradle run`, and confinement
//! looked 0.4 ms dearer than it was. So each round's order is shuffled,
//! from a seed of the round: reproducible, and every row follows every
//! other alike over many rounds.

/// The rows' indices (`0..count`) in the order they run in `round`.
pub(crate) fn of_round(round: usize, count: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..count).collect();
    let mut state = round as u64;
    // Fisher-Yates, with splitmix64 as the generator.
    for i in (1..count).rev() {
        let j = (next(&mut state) % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// splitmix64: the next number of the sequence at `state`.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
