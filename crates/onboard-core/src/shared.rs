//! [`Shared`] and [`SharedMap`]: a list and a map that are copied only when written while
//! another copy holds them.
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

/// A `Vec<T>` behind a reference count: cloning it is cheap, and writing to it (through
/// `DerefMut`) copies the list first when another clone holds it, so a clone never sees
/// the writes of another. It reads, compares, serialises and deserialises as the `Vec`.
#[derive(Debug)]
pub struct Shared<T>(Arc<Vec<T>>);

impl<T> Shared<T> {
    /// Whether `self` and `other` are the same list, not written since one was cloned from
    /// the other: then they are equal without comparing their items.
    pub fn same_as(&self, other: &Shared<T>) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(Arc::clone(&self.0))
    }
}

impl<T> Default for Shared<T> {
    fn default() -> Self {
        Shared(Arc::new(Vec::new()))
    }
}

impl<T> Deref for Shared<T> {
    type Target = Vec<T>;

    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T: Clone> DerefMut for Shared<T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        Arc::make_mut(&mut self.0)
    }
}

impl<T: PartialEq> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        self.same_as(other) || *self.0 == *other.0
    }
}

impl<T: Eq> Eq for Shared<T> {}

impl<T> From<Vec<T>> for Shared<T> {
    fn from(items: Vec<T>) -> Self {
        Shared(Arc::new(items))
    }
}

impl<T> FromIterator<T> for Shared<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        Shared(Arc::new(items.into_iter().collect()))
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

impl<T: Serialize> Serialize for Shared<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Shared<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::deserialize(deserializer).map(Shared::from)
    }
}

/// A `BTreeMap` behind a reference count, as [`Shared`] is a `Vec`: cloning it is cheap,
/// writing to it copies the map first when another clone holds it. It reads, compares,
/// serialises and deserialises as the map.
#[derive(Debug)]
pub struct SharedMap<K, V>(Arc<BTreeMap<K, V>>);

impl<K, V> SharedMap<K, V> {
    /// Whether `self` and `other` are the same map, not written since one was cloned from
    /// the other.
    pub fn same_as(&self, other: &SharedMap<K, V>) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl<K, V> Clone for SharedMap<K, V> {
    fn clone(&self) -> Self {
        SharedMap(Arc::clone(&self.0))
    }
}

impl<K, V> Default for SharedMap<K, V> {
    fn default() -> Self {
        SharedMap(Arc::new(BTreeMap::new()))
    }
}

impl<K, V> Deref for SharedMap<K, V> {
    type Target = BTreeMap<K, V>;

    fn deref(&self) -> &BTreeMap<K, V> {
        &self.0
    }
}

impl<K: Clone, V: Clone> DerefMut for SharedMap<K, V> {
    fn deref_mut(&mut self) -> &mut BTreeMap<K, V> {
        Arc::make_mut(&mut self.0)
    }
}

impl<K: PartialEq, V: PartialEq> PartialEq for SharedMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.same_as(other) || *self.0 == *other.0
    }
}

impl<K: Eq, V: Eq> Eq for SharedMap<K, V> {}

impl<K, V> From<BTreeMap<K, V>> for SharedMap<K, V> {
    fn from(map: BTreeMap<K, V>) -> Self {
        SharedMap(Arc::new(map))
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for SharedMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(items: I) -> Self {
        SharedMap(Arc::new(items.into_iter().collect()))
    }
}

impl<'a, K, V> IntoIterator for &'a SharedMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::collections::btree_map::Iter<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<K: Serialize, V: Serialize> Serialize for SharedMap<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, K: Deserialize<'de> + Ord, V: Deserialize<'de>> Deserialize<'de> for SharedMap<K, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        BTreeMap::deserialize(deserializer).map(SharedMap::from)
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
