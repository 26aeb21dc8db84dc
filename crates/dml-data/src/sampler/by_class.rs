//! Grouping dataset indices by label, shared by the class-aware samplers.

use std::collections::BTreeMap;

/// The image indices of every label present in `labels`, in ascending label order (absent
/// labels have no entry); indices within a class ascend.
pub(crate) fn group_by_class(labels: &[usize]) -> Vec<Vec<usize>> {
    let mut map: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, &l) in labels.iter().enumerate() {
        map.entry(l).or_default().push(i);
    }
    map.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_in_label_order() {
        assert_eq!(group_by_class(&[7, 0, 7, 2]), vec![vec![1], vec![3], vec![0, 2]]);
        assert!(group_by_class(&[]).is_empty());
    }
}
