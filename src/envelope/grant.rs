//! Key grants and community invitations: what a grant bundle carries, signed.

use super::*;

#[derive(Serialize, Deserialize)]
pub(super) struct GrantWire {
    f: ByteBuf,
    t: ByteBuf,
    s: String,
    e: u32,
    k: ByteBuf,
    c: Option<InvitationWire>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct InvitationWire {
    g: GenesisWire,
    p: Vec<CertWire>,
    n: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    k: Vec<(u32, ByteBuf)>,
}

/// A community invitation's extra content inside a grant.
#[derive(Debug, Clone)]
pub struct Invitation {
    /// The community's genesis.
    pub genesis: Genesis,
    /// The invitee's membership chain; its last certificate names the invitee.
    pub chain: Vec<Cert>,
    /// The community's name, so the invitee can decide.
    pub name: String,
    /// The keys of the community's earlier epochs (tag and key), so a new member reads
    /// what was written before it joined. The grant itself holds the current one.
    pub earlier_keys: Vec<(u32, [u8; 32])>,
}

/// The signed inside of a grant: a symmetric key for a scope, for one recipient.
#[derive(Debug, Clone)]
pub struct Grant {
    /// Ed25519 key of the granter.
    pub granter: [u8; 32],
    /// Ed25519 key of the recipient (binds the grant to one node).
    pub recipient: [u8; 32],
    /// Key scope: `c/<community>` or `p/<node>/<audience>`.
    pub scope: String,
    /// Key epoch.
    pub epoch: u32,
    /// The key.
    pub key: [u8; 32],
    /// Present when the grant is a community invitation.
    pub invitation: Option<Invitation>,
}

impl Grant {
    /// Encodes the grant (the bytes that get signed).
    pub fn encode(&self) -> Vec<u8> {
        encode(&GrantWire {
            f: ByteBuf::from(self.granter.to_vec()),
            t: ByteBuf::from(self.recipient.to_vec()),
            s: self.scope.clone(),
            e: self.epoch,
            k: ByteBuf::from(self.key.to_vec()),
            c: self.invitation.as_ref().map(|i| InvitationWire {
                g: GenesisWire::from(&i.genesis),
                p: i.chain.iter().map(CertWire::from).collect(),
                n: i.name.clone(),
                k: i.earlier_keys.iter().map(|(t, k)| (*t, ByteBuf::from(k.to_vec()))).collect(),
            }),
        })
    }

    /// Decodes a grant.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let w: GrantWire = decode_canonical("key grant", bytes, HEADER_BYTES_MAX)?;
        if w.s.len() > DOC_ID_BYTES_MAX {
            return Err(EnvelopeError::Field("grant scope"));
        }
        let invitation = match w.c {
            None => None,
            Some(i) => {
                if i.n.len() > NAME_BYTES_MAX {
                    return Err(EnvelopeError::Field("invitation community name"));
                }
                if i.k.len() > crate::limits::EPOCH_KEYS_MAX {
                    return Err(EnvelopeError::Field("invitation earlier keys"));
                }
                let earlier_keys =
                    i.k.iter().map(|(t, k)| Ok((*t, fixed(k, "invitation earlier key")?))).collect::<Result<_, _>>()?;
                Some(Invitation { genesis: i.g.to()?, chain: chain_from(&i.p)?, name: i.n, earlier_keys })
            }
        };
        Ok(Grant {
            granter: fixed(&w.f, "grant granter")?,
            recipient: fixed(&w.t, "grant recipient")?,
            scope: w.s,
            epoch: w.e,
            key: fixed(&w.k, "grant key")?,
            invitation,
        })
    }
}
