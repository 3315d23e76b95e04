//! A page cut out of a newest-first list that was read with one row more
//! than asked for: the extra row says whether a next page exists, and the
//! page's last row is where it starts.

/// `rows` (read with `limit + 1`) cut to `limit`, and the next page's
/// cursor made by `cursor` from the page's last row when a row was left
/// over (`None` at the end).
pub(crate) fn cut<T, C>(
    mut rows: Vec<T>,
    limit: u64,
    cursor: impl FnOnce(&T) -> C,
) -> (Vec<T>, Option<C>) {
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = if more { rows.last().map(cursor) } else { None };
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_left_over_gives_the_next_pages_cursor() {
        assert_eq!(cut(vec![5, 4, 3], 2, |r| *r), (vec![5, 4], Some(4)));
        assert_eq!(cut(vec![5, 4], 2, |r| *r), (vec![5, 4], None));
        assert_eq!(cut(Vec::<i32>::new(), 2, |r| *r), (vec![], None));
    }
}
