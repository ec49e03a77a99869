//! Authority operations on the wire (`membership.md`): each a signed structure of its
//! own, so it proves its author wherever it travels.

use super::*;
use crate::authority::{Action, Op, Rekey};
use crate::doc::{CommunityId, Role};
use crate::limits::{AUTHORITY_FOLLOWS_MAX, AUTHORITY_OP_BYTES_MAX, AUTHORITY_SLOTS_MAX};

#[derive(Serialize, Deserialize)]
struct OpWire {
    c: ByteBuf,
    a: ByteBuf,
    f: Vec<ByteBuf>,
    t: u8,
    m: Option<ByteBuf>,
    x: Option<ByteBuf>,
    r: Option<u8>,
    k: Option<RekeyWire>,
}

#[derive(Serialize, Deserialize)]
struct RekeyWire {
    e: u32,
    s: Vec<ByteBuf>,
}

/// Encodes an operation (the bytes its author signs).
pub fn encode_auth_op(op: &Op) -> Vec<u8> {
    let b = |x: &[u8]| ByteBuf::from(x.to_vec());
    let (t, m, x, r) = match &op.action {
        Action::Add { member, agreement, role } => (0, Some(b(member)), Some(b(agreement)), Some(role.code())),
        Action::SetRole { member, role } => (1, Some(b(member)), None, Some(role.code())),
        Action::Remove { member } => (2, Some(b(member)), None, None),
        Action::Leave => (3, None, None, None),
        Action::Quarantine { member } => (4, Some(b(member)), None, None),
        Action::Release { member } => (5, Some(b(member)), None, None),
        Action::Rekey => (6, None, None, None),
        Action::Certifier { member, on } => (7, Some(b(member)), None, Some(u8::from(*on))),
        Action::Threshold { k } => (8, None, None, Some(*k)),
    };
    encode(&OpWire {
        c: b(&op.community.0),
        a: b(&op.author),
        f: op.follows.iter().map(|f| b(f)).collect(),
        t,
        m,
        x,
        r,
        k: op.rekey.as_ref().map(|k| RekeyWire { e: k.number, s: k.slots.iter().map(|s| b(s)).collect() }),
    })
}

/// Decodes an operation, in its one canonical spelling.
pub fn decode_auth_op(bytes: &[u8]) -> Result<Op, EnvelopeError> {
    let w: OpWire = decode_canonical("authority operation", bytes, AUTHORITY_OP_BYTES_MAX)?;
    if w.f.len() > AUTHORITY_FOLLOWS_MAX {
        return Err(EnvelopeError::Field("authority operation follows"));
    }
    let member = || {
        w.m.as_ref()
            .ok_or(EnvelopeError::Field("authority operation member"))
            .and_then(|m| fixed(m, "authority operation member"))
    };
    let role = || w.r.and_then(Role::from_code).ok_or(EnvelopeError::Field("authority operation role"));
    let none = |present: bool| if present { Err(EnvelopeError::NonCanonical) } else { Ok(()) };
    let action = match w.t {
        0 => Action::Add {
            member: member()?,
            agreement: fixed(
                w.x.as_ref().ok_or(EnvelopeError::Field("authority operation key"))?,
                "authority operation key",
            )?,
            role: role()?,
        },
        1 => {
            none(w.x.is_some())?;
            Action::SetRole { member: member()?, role: role()? }
        }
        2 | 4 | 5 => {
            none(w.x.is_some() || w.r.is_some())?;
            let member = member()?;
            match w.t {
                2 => Action::Remove { member },
                4 => Action::Quarantine { member },
                _ => Action::Release { member },
            }
        }
        3 | 6 => {
            none(w.m.is_some() || w.x.is_some() || w.r.is_some())?;
            if w.t == 3 { Action::Leave } else { Action::Rekey }
        }
        7 => {
            none(w.x.is_some())?;
            let on = match w.r {
                Some(0) => false,
                Some(1) => true,
                _ => return Err(EnvelopeError::Field("authority operation certifier flag")),
            };
            Action::Certifier { member: member()?, on }
        }
        8 => {
            none(w.m.is_some() || w.x.is_some())?;
            match w.r {
                Some(k) if (1..=crate::limits::CERT_THRESHOLD_MAX).contains(&k) => Action::Threshold { k },
                _ => return Err(EnvelopeError::Field("authority operation threshold")),
            }
        }
        _ => return Err(EnvelopeError::Field("authority operation action")),
    };
    let rekey = match w.k {
        None => None,
        Some(k) => {
            if k.s.len() > AUTHORITY_SLOTS_MAX {
                return Err(EnvelopeError::Field("rekey slot count"));
            }
            Some(Rekey { number: k.e, slots: k.s.into_iter().map(ByteBuf::into_vec).collect() })
        }
    };
    Ok(Op {
        community: CommunityId(fixed(&w.c, "authority operation community")?),
        author: fixed(&w.a, "authority operation author")?,
        follows: w.f.iter().map(|f| fixed(f, "authority operation follows")).collect::<Result<_, _>>()?,
        action,
        rekey,
    })
}
