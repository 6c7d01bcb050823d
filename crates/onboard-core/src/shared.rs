//! [`Shared`] and [`SharedMap`]: a list and a map that are copied only when written while
//! another copy holds them; both are [`CopyOnWrite`].
//!
//! The processor keeps the parts of each account state as they were before a batch, to
//! write back only the parts the batch changed ([`crate::stored::PartsBefore`]). With the
//! parts as `Shared` lists, keeping them costs a reference each, a part the batch only reads
//! is never copied, and telling whether a part changed is a pointer comparison, unless the
//! batch wrote to it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// A collection behind a reference count: cloning it is cheap, and writing to it (through
/// `DerefMut`) copies the collection first when another clone holds it, so a clone never
/// sees the writes of another. It reads, compares, serialises and deserialises as the
/// collection.
#[derive(Debug)]
pub struct CopyOnWrite<C>(Arc<C>);

/// A `Vec<T>`, copied on write.
pub type Shared<T> = CopyOnWrite<Vec<T>>;

/// A `BTreeMap<K, V>`, copied on write.
pub type SharedMap<K, V> = CopyOnWrite<BTreeMap<K, V>>;

impl<C> CopyOnWrite<C> {
    /// Whether `self` and `other` are the same collection, not written since one was cloned
    /// from the other: then they are equal without comparing their items.
    pub fn same_as(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl<C> Clone for CopyOnWrite<C> {
    fn clone(&self) -> Self {
        CopyOnWrite(Arc::clone(&self.0))
    }
}

impl<C: Default> Default for CopyOnWrite<C> {
    fn default() -> Self {
        CopyOnWrite(Arc::new(C::default()))
    }
}

impl<C> Deref for CopyOnWrite<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.0
    }
}

impl<C: Clone> DerefMut for CopyOnWrite<C> {
    fn deref_mut(&mut self) -> &mut C {
        Arc::make_mut(&mut self.0)
    }
}

impl<C: PartialEq> PartialEq for CopyOnWrite<C> {
    fn eq(&self, other: &Self) -> bool {
        self.same_as(other) || *self.0 == *other.0
    }
}

impl<C: Eq> Eq for CopyOnWrite<C> {}

impl<C> From<C> for CopyOnWrite<C> {
    fn from(items: C) -> Self {
        CopyOnWrite(Arc::new(items))
    }
}

impl<T> FromIterator<T> for Shared<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        CopyOnWrite(Arc::new(items.into_iter().collect()))
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for SharedMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(items: I) -> Self {
        CopyOnWrite(Arc::new(items.into_iter().collect()))
    }
}

impl<'a, T> IntoIterator for &'a Shared<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'a, T: Clone> IntoIterator for &'a mut Shared<T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        Arc::make_mut(&mut self.0).iter_mut()
    }
}

impl<'a, K, V> IntoIterator for &'a SharedMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::collections::btree_map::Iter<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<C: Serialize> Serialize for CopyOnWrite<C> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, C: Deserialize<'de>> Deserialize<'de> for CopyOnWrite<C> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        C::deserialize(deserializer).map(CopyOnWrite::from)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_clone_is_the_same_list_until_one_of_them_is_written() {
        let mut list: Shared<u32> = vec![1, 2].into();
        let before = list.clone();
        assert!(list.same_as(&before));
        list.push(3);
        assert!(!list.same_as(&before));
        assert_eq!(*before, [1, 2]);
        assert_eq!(*list, [1, 2, 3]);
    }

    #[test]
    fn a_list_held_nowhere_else_is_written_in_place() {
        let mut list: Shared<u32> = vec![1].into();
        let at = Arc::as_ptr(&list.0);
        list.push(2);
        list[0] = 5;
        assert_eq!(Arc::as_ptr(&list.0), at);
        assert_eq!(*list, [5, 2]);
    }

    #[test]
    fn lists_compare_by_their_items() {
        let a: Shared<u32> = vec![1, 2].into();
        let mut b = a.clone();
        b.push(3);
        b.pop();
        assert!(!a.same_as(&b));
        assert_eq!(a, b);
        assert_ne!(a, Shared::from(vec![2, 1]));
    }

    #[test]
    fn a_list_reads_and_writes_as_json_like_a_vec() {
        let list: Shared<String> = vec!["a".to_owned()].into();
        let json = serde_json::to_string(&list).unwrap();
        assert_eq!(json, r#"["a"]"#);
        let back: Shared<String> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, list);
    }

    #[test]
    fn a_map_clone_is_the_same_map_until_one_of_them_is_written() {
        let mut map: SharedMap<String, u32> = [("a".to_owned(), 1)].into_iter().collect();
        let before = map.clone();
        assert!(map.same_as(&before));
        *map.entry("a".to_owned()).or_default() += 1;
        assert!(!map.same_as(&before));
        assert_eq!(before.get("a"), Some(&1));
        assert_eq!(map.get("a"), Some(&2));
        assert_ne!(map, before);
        let json = serde_json::to_string(&map).unwrap();
        assert_eq!(json, r#"{"a":2}"#);
        let back: SharedMap<String, u32> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, map);
    }
}
