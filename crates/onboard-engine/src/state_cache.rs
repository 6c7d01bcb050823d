//! Account states as this node's processor last committed them, kept between batches so a
//! busy account's state is not read and parsed again for each batch. Sound because only
//! the holder of the processor lease writes states (`Store::commit_batch` is fenced by the
//! lease's epoch) and the epoch changes whenever another node has held the lease: the cache
//! belongs to one epoch and is emptied when the epoch changes. Bounded: the least recently
//! used state goes first. Each state comes with its portfolio row as the batch computed it,
//! so the next batch need not compute it again to tell whether the row changed.

use lru::LruCache;
use onboard_core::portfolio::Summary;
use onboard_core::state::AccountState;
use std::num::NonZeroUsize;

pub(crate) struct StateCache {
    /// The processor lease's epoch the states were committed under.
    epoch: Option<i64>,
    /// `None` when caching is off (capacity 0).
    states: Option<LruCache<String, (AccountState, Summary)>>,
}

impl StateCache {
    /// A cache of at most `capacity` states; 0 keeps none.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            epoch: None,
            states: NonZeroUsize::new(capacity).map(LruCache::new),
        }
    }

    /// Takes out the states of `ids` held for `epoch`, each with its summary (a batch changes
    /// them; what it commits comes back through [`StateCache::keep`]), and says which ids it
    /// does not hold.
    pub(crate) fn take(
        &mut self,
        epoch: i64,
        ids: &[String],
    ) -> (Vec<(AccountState, Summary)>, Vec<String>) {
        let Some(states) = self.states.as_mut() else {
            return (Vec::new(), ids.to_vec());
        };
        if self.epoch != Some(epoch) {
            states.clear();
            self.epoch = Some(epoch);
        }
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for id in ids {
            match states.pop(id) {
                Some(state) => found.push(state),
                None => missing.push(id.clone()),
            }
        }
        (found, missing)
    }

    /// Keeps the states a batch committed under `epoch`, each with its summary.
    pub(crate) fn keep(&mut self, epoch: i64, committed: Vec<(AccountState, Summary)>) {
        let Some(states) = self.states.as_mut() else {
            return;
        };
        if self.epoch != Some(epoch) {
            states.clear();
            self.epoch = Some(epoch);
        }
        for (state, summary) in committed {
            states.put(state.id.clone(), (state, summary));
        }
    }

    /// Forgets every state (the lease was lost, or a batch failed after taking some).
    pub(crate) fn clear(&mut self) {
        if let Some(states) = self.states.as_mut() {
            states.clear();
        }
        self.epoch = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onboard_core::Timestamp;

    fn state(id: &str) -> (AccountState, Summary) {
        let state = AccountState::new(id, "v1", Timestamp(0));
        let summary = Summary::of(&state, &Default::default());
        (state, summary)
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_state_committed_comes_back_for_the_next_batch_of_the_same_epoch() {
        let mut cache = StateCache::new(10);
        cache.keep(1, vec![state("acme")]);
        let (found, missing) = cache.take(1, &ids(&["acme", "globex"]));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0.id, "acme");
        assert_eq!(found[0].1.account, "acme");
        assert_eq!(missing, ["globex"]);
        // Taken out: a batch that fails does not leave it behind.
        let (found, _) = cache.take(1, &ids(&["acme"]));
        assert!(found.is_empty());
    }

    #[test]
    fn another_epoch_finds_nothing() {
        let mut cache = StateCache::new(10);
        cache.keep(1, vec![state("acme")]);
        let (found, missing) = cache.take(2, &ids(&["acme"]));
        assert!(found.is_empty());
        assert_eq!(missing, ["acme"]);
    }

    #[test]
    fn the_least_recently_used_state_goes_first_and_capacity_zero_keeps_none() {
        let mut cache = StateCache::new(2);
        cache.keep(1, vec![state("a"), state("b"), state("c")]);
        let (found, missing) = cache.take(1, &ids(&["a", "b", "c"]));
        assert_eq!(found.len(), 2);
        assert_eq!(missing, ["a"]);

        let mut off = StateCache::new(0);
        off.keep(1, vec![state("a")]);
        assert_eq!(off.take(1, &ids(&["a"])).1, ["a"]);
    }
}
