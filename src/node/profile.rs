//! Our profile: fields and posts per audience; reading others'.

use super::*;

impl Node {
    /// Sets a field of our profile for `audience` (name, about, location, skills, ...).
    pub fn set_profile_field(&mut self, field: &str, value: &str, audience: Audience) -> Result<(), Error> {
        self.edit_profile(audience, |d, _, _| builtin::put_str(d, &builtin::field_key(field), value))
    }

    /// Posts to our profile for `audience`.
    pub fn add_profile_post(&mut self, text: &str, audience: Audience) -> Result<(), Error> {
        self.edit_profile(audience, |d, me, now| builtin::add_post(d, me, now, text))
    }

    /// One edit of our profile for `audience`, with the audience's key (made on first
    /// use) and its grants to the audience's contacts, in one transaction.
    fn edit_profile<F>(&mut self, audience: Audience, f: F) -> Result<(), Error>
    where
        F: FnOnce(&mut AutoCommit, &NodeId, u64) -> Result<(), automerge::AutomergeError>,
    {
        let id = DocId::Profile { owner: self.node_id(), audience };
        let mut t = self.write_txn()?;
        match audience {
            Audience::Public => {}
            Audience::FriendsOfFriends => self.ensure_fof_slots(&mut t)?,
            _ => self.ensure_audience_grants(&mut t, audience)?,
        }
        let event = self.edit_in(&mut t, id, f)?;
        self.commit_edits(t, &[id], vec![event])
    }

    /// The profile fields of `node` this node can read, all audiences.
    pub fn profile(&mut self, node: &NodeId) -> Result<Vec<ProfileField>, Error> {
        let view = self.store.read()?;
        let mut out = Vec::new();
        for audience in Audience::ALL {
            let id = DocId::Profile { owner: *node, audience };
            let fields = match self.carried_doc(&view, id)? {
                Some(d) => builtin::read_fields(&d),
                None => builtin::read_fields(&self.load_doc(&view, id)?.doc),
            };
            out.extend(fields.into_iter().map(|(name, value)| ProfileField { audience, name, value }));
        }
        Ok(out)
    }

    /// The profile posts of `node` this node can read, for one audience.
    pub fn profile_posts(&mut self, node: &NodeId, audience: Audience) -> Result<Vec<Post>, Error> {
        let view = self.store.read()?;
        let id = DocId::Profile { owner: *node, audience };
        Ok(match self.carried_doc(&view, id)? {
            Some(d) => builtin::read_posts(&d),
            None => builtin::read_posts(&self.load_doc(&view, id)?.doc),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, carry};
    use super::*;

    /// Each audience is its own document: a contact in `family` reads family and public
    /// fields and posts, not friends'; the last value set wins.
    #[test]
    fn a_contact_reads_the_audiences_it_is_in() {
        let kit = Kit::new();
        let (mut a, mut b) = (kit.node("A"), kit.node("B"));
        a.add_contact(&b.card(), &[Audience::Family]).unwrap();
        b.add_contact(&a.card(), &[]).unwrap();
        a.set_profile_field("about", "potter", Audience::Public).unwrap();
        a.set_profile_field("about", "potter and baker", Audience::Public).unwrap();
        a.set_profile_field("phone", "555", Audience::Family).unwrap();
        a.set_profile_field("address", "hill road", Audience::Friends).unwrap();
        a.add_profile_post("back on monday", Audience::Family).unwrap();
        carry(&mut a, &mut b);
        let mut seen: Vec<(Audience, String, String)> =
            b.profile(&a.node_id()).unwrap().into_iter().map(|f| (f.audience, f.name, f.value)).collect();
        seen.sort_by(|x, y| x.1.cmp(&y.1));
        assert_eq!(
            seen,
            vec![
                (Audience::Public, "about".into(), "potter and baker".into()),
                (Audience::Family, "phone".into(), "555".into()),
            ]
        );
        let posts = b.profile_posts(&a.node_id(), Audience::Family).unwrap();
        assert_eq!(posts.iter().map(|p| p.text.as_str()).collect::<Vec<_>>(), ["back on monday"]);
        assert!(b.profile_posts(&a.node_id(), Audience::Friends).unwrap().is_empty());
    }
}
