//! Python's pickle format for plain data, both ways, without running anything (feature `pickle`):
//! [`dumps`] writes what Python's `pickle.loads` reads, and [`loads`] reads what Python's
//! `pickle.dumps` writes for plain data: `None`, `bool`, `int`, `float`, `str`, `bytes`, `list`,
//! `tuple`, `dict`, `set` and `frozenset`, nested. A pickle that asks for anything else (a class, a
//! global, a `__reduce__` call) is a `Codec` error: a pickle is a program, and this reader runs none
//! of it. Reading is bounded as multiproc's own decoder is: nesting is capped at 256, and a budget
//! of one element per byte of input (plus a million) bounds what memo references can copy.
//!
//! | Rust (serde) | Python |
//! |---|---|
//! | `()`, `None` | `None` |
//! | `bool` | `bool` |
//! | integers | `int` (any size a Rust integer holds) |
//! | `f32`, `f64` | `float` |
//! | `String`, `&str`, `char` | `str` |
//! | [`Bytes`](crate::Bytes), `serde_bytes` | `bytes` (a `Vec<u8>` reads from `bytes` too) |
//! | `Vec`, slices, sets | `list` (read from `list`, `tuple`, `set`) |
//! | tuples, tuple structs | `tuple` |
//! | maps | `dict` |
//! | structs | `dict` with `str` keys |
//! | enums | a unit variant is its name as `str`; others `{name: content}` |

use crate::error::{Error, Result};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};
use std::fmt;

// Opcodes (Lib/pickle.py).
const MARK: u8 = b'(';
const STOP: u8 = b'.';
const POP: u8 = b'0';
const POP_MARK: u8 = b'1';
const DUP: u8 = b'2';
const BININT: u8 = b'J';
const BININT1: u8 = b'K';
const BININT2: u8 = b'M';
const NONE: u8 = b'N';
const BINUNICODE: u8 = b'X';
const APPEND: u8 = b'a';
const EMPTY_DICT: u8 = b'}';
const APPENDS: u8 = b'e';
const BINGET: u8 = b'h';
const LONG_BINGET: u8 = b'j';
const EMPTY_LIST: u8 = b']';
const BINPUT: u8 = b'q';
const LONG_BINPUT: u8 = b'r';
const SETITEM: u8 = b's';
const TUPLE: u8 = b't';
const EMPTY_TUPLE: u8 = b')';
const SETITEMS: u8 = b'u';
const BINFLOAT: u8 = b'G';
const PROTO: u8 = 0x80;
const TUPLE1: u8 = 0x85;
const TUPLE2: u8 = 0x86;
const TUPLE3: u8 = 0x87;
const NEWTRUE: u8 = 0x88;
const NEWFALSE: u8 = 0x89;
const LONG1: u8 = 0x8a;
const LONG4: u8 = 0x8b;
const BINBYTES: u8 = b'B';
const SHORT_BINBYTES: u8 = b'C';
const SHORT_BINUNICODE: u8 = 0x8c;
const BINUNICODE8: u8 = 0x8d;
const BINBYTES8: u8 = 0x8e;
const EMPTY_SET: u8 = 0x8f;
const ADDITEMS: u8 = 0x90;
const FROZENSET: u8 = 0x91;
const MEMOIZE: u8 = 0x94;
const FRAME: u8 = 0x95;
const BYTEARRAY8: u8 = 0x96;

/// Nesting a pickle may have.
const MAX_DEPTH: usize = 256;
/// Elements beyond one per input byte that memo references may copy.
const EXTRA_ELEMENTS: usize = 1 << 20;

/// A Python value of the plain kinds.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
}

fn codec(msg: impl fmt::Display) -> Error {
    Error::codec(format!("pickle: {msg}"))
}

// ---- writing --------------------------------------------------------------------------------

/// The pickle (protocol 3, which every Python 3 reads) of `value`.
pub fn dumps<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    let mut out = vec![PROTO, 3];
    value
        .serialize(&mut Writer { out: &mut out })
        .map_err(|e| codec(e.0))?;
    out.push(STOP);
    Ok(out)
}

#[derive(Debug)]
struct SerError(String);

impl fmt::Display for SerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SerError {}

impl ser::Error for SerError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        SerError(msg.to_string())
    }
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn int(&mut self, v: i128) {
        if (0..=0xff).contains(&v) {
            self.out.extend_from_slice(&[BININT1, v as u8]);
        } else if (0..=0xffff).contains(&v) {
            self.out.push(BININT2);
            self.out.extend_from_slice(&(v as u16).to_le_bytes());
        } else if let Ok(v) = i32::try_from(v) {
            self.out.push(BININT);
            self.out.extend_from_slice(&v.to_le_bytes());
        } else {
            // LONG1: little-endian two's complement, as few bytes as keep the sign.
            let bytes = v.to_le_bytes();
            let mut n = 16;
            while n > 1 {
                let top = bytes[n - 1];
                let next_sign = bytes[n - 2] & 0x80;
                if (top == 0 && next_sign == 0) || (top == 0xff && next_sign != 0) {
                    n -= 1;
                } else {
                    break;
                }
            }
            self.out.extend_from_slice(&[LONG1, n as u8]);
            self.out.extend_from_slice(&bytes[..n]);
        }
    }

    fn str(&mut self, s: &str) {
        let b = s.as_bytes();
        if b.len() < 256 {
            self.out
                .extend_from_slice(&[SHORT_BINUNICODE, b.len() as u8]);
        } else if let Ok(n) = u32::try_from(b.len()) {
            self.out.push(BINUNICODE);
            self.out.extend_from_slice(&n.to_le_bytes());
        } else {
            self.out.push(BINUNICODE8);
            self.out.extend_from_slice(&(b.len() as u64).to_le_bytes());
        }
        self.out.extend_from_slice(b);
    }

    fn bytes(&mut self, b: &[u8]) {
        if b.len() < 256 {
            self.out.extend_from_slice(&[SHORT_BINBYTES, b.len() as u8]);
        } else if let Ok(n) = u32::try_from(b.len()) {
            self.out.push(BINBYTES);
            self.out.extend_from_slice(&n.to_le_bytes());
        } else {
            self.out.push(BINBYTES8);
            self.out.extend_from_slice(&(b.len() as u64).to_le_bytes());
        }
        self.out.extend_from_slice(b);
    }
}

/// A container being written: what closes it.
struct Compound<'w, 'a> {
    w: &'w mut Writer<'a>,
    close: &'static [u8],
}

type SResult<T> = std::result::Result<T, SerError>;

impl<'w, 'a> ser::Serializer for &'w mut Writer<'a> {
    type Ok = ();
    type Error = SerError;
    type SerializeSeq = Compound<'w, 'a>;
    type SerializeTuple = Compound<'w, 'a>;
    type SerializeTupleStruct = Compound<'w, 'a>;
    type SerializeTupleVariant = Compound<'w, 'a>;
    type SerializeMap = Compound<'w, 'a>;
    type SerializeStruct = Compound<'w, 'a>;
    type SerializeStructVariant = Compound<'w, 'a>;

    fn serialize_bool(self, v: bool) -> SResult<()> {
        self.out.push(if v { NEWTRUE } else { NEWFALSE });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> SResult<()> {
        self.serialize_i128(v.into())
    }
    fn serialize_i16(self, v: i16) -> SResult<()> {
        self.serialize_i128(v.into())
    }
    fn serialize_i32(self, v: i32) -> SResult<()> {
        self.serialize_i128(v.into())
    }
    fn serialize_i64(self, v: i64) -> SResult<()> {
        self.serialize_i128(v.into())
    }
    fn serialize_i128(self, v: i128) -> SResult<()> {
        self.int(v);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> SResult<()> {
        self.serialize_i128(v.into())
    }
    fn serialize_u16(self, v: u16) -> SResult<()> {
        self.serialize_i128(v.into())
    }
    fn serialize_u32(self, v: u32) -> SResult<()> {
        self.serialize_i128(v.into())
    }
    fn serialize_u64(self, v: u64) -> SResult<()> {
        self.serialize_i128(v.into())
    }
    fn serialize_u128(self, v: u128) -> SResult<()> {
        let v = i128::try_from(v).map_err(|_| {
            SerError(format!(
                "{v} is beyond what this writer puts in a Python int"
            ))
        })?;
        self.serialize_i128(v)
    }
    fn serialize_f32(self, v: f32) -> SResult<()> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> SResult<()> {
        self.out.push(BINFLOAT);
        self.out.extend_from_slice(&v.to_be_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> SResult<()> {
        self.str(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> SResult<()> {
        self.str(v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> SResult<()> {
        self.bytes(v);
        Ok(())
    }
    fn serialize_none(self) -> SResult<()> {
        self.out.push(NONE);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> SResult<()> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> SResult<()> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _: &'static str) -> SResult<()> {
        self.serialize_none()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> SResult<()> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> SResult<()> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> SResult<()> {
        self.out.extend_from_slice(&[EMPTY_DICT]);
        self.str(variant);
        v.serialize(&mut *self)?;
        self.out.push(SETITEM);
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> SResult<Compound<'w, 'a>> {
        self.out.extend_from_slice(&[EMPTY_LIST, MARK]);
        Ok(Compound {
            w: self,
            close: &[APPENDS],
        })
    }
    fn serialize_tuple(self, _: usize) -> SResult<Compound<'w, 'a>> {
        self.out.push(MARK);
        Ok(Compound {
            w: self,
            close: &[TUPLE],
        })
    }
    fn serialize_tuple_struct(self, _: &'static str, n: usize) -> SResult<Compound<'w, 'a>> {
        self.serialize_tuple(n)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> SResult<Compound<'w, 'a>> {
        self.out.push(EMPTY_DICT);
        self.str(variant);
        self.out.extend_from_slice(&[EMPTY_LIST, MARK]);
        Ok(Compound {
            w: self,
            close: &[APPENDS, SETITEM],
        })
    }
    fn serialize_map(self, _: Option<usize>) -> SResult<Compound<'w, 'a>> {
        self.out.extend_from_slice(&[EMPTY_DICT, MARK]);
        Ok(Compound {
            w: self,
            close: &[SETITEMS],
        })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> SResult<Compound<'w, 'a>> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> SResult<Compound<'w, 'a>> {
        self.out.push(EMPTY_DICT);
        self.str(variant);
        self.out.extend_from_slice(&[EMPTY_DICT, MARK]);
        Ok(Compound {
            w: self,
            close: &[SETITEMS, SETITEM],
        })
    }
}

impl Compound<'_, '_> {
    fn item<T: Serialize + ?Sized>(&mut self, v: &T) -> SResult<()> {
        v.serialize(&mut *self.w)
    }
    fn done(self) -> SResult<()> {
        self.w.out.extend_from_slice(self.close);
        Ok(())
    }
}

macro_rules! items {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = SerError;
            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> SResult<()> {
                self.item(v)
            }
            fn end(self) -> SResult<()> {
                self.done()
            }
        }
    )*};
}
items!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> SResult<()> {
        self.item(k)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> SResult<()> {
        self.item(v)
    }
    fn end(self) -> SResult<()> {
        self.done()
    }
}

macro_rules! fields {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = SerError;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, k: &'static str, v: &T) -> SResult<()> {
                self.w.str(k);
                self.item(v)
            }
            fn end(self) -> SResult<()> {
                self.done()
            }
        }
    )*};
}
fields!(SerializeStruct, SerializeStructVariant);

// ---- reading --------------------------------------------------------------------------------

/// Reads a pickle of plain data into `T`. Anything else in the pickle is a `Codec` error.
pub fn loads<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let value = parse(bytes)?;
    T::deserialize(value).map_err(|e| codec(e.0))
}

/// Runs the pickle machine over `input`, for the plain opcodes only, then builds the value.
fn parse(input: &[u8]) -> Result<Value> {
    let mut p = Parser {
        input,
        pos: 0,
        nodes: Vec::new(),
    };
    let root = p.run()?;
    let mut b = Builder {
        nodes: &p.nodes,
        elements: input.len().saturating_add(EXTRA_ELEMENTS),
        bytes: input.len().saturating_mul(4).max(EXTRA_BYTES),
    };
    b.build(root, 1)
}

/// Bytes of strings and byte strings that memo references may copy, at the least.
const EXTRA_BYTES: usize = 64 << 20;

/// A value as the pickle machine makes it: containers hold the indices of their items, so that a
/// memo reference shares a node (as Python shares the object) instead of copying it.
enum Node {
    Leaf(Value),
    List(Vec<usize>),
    Tuple(Vec<usize>),
    Dict(Vec<(usize, usize)>),
}

enum Slot {
    Mark,
    Node(usize),
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    nodes: Vec<Node>,
}

impl Parser<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.input.len())
            .ok_or_else(|| codec(format!("a length of {n} runs past the end of the pickle")))?;
        let s = &self.input[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u64_len(&mut self) -> Result<usize> {
        usize::try_from(u64::from_le_bytes(self.array()?))
            .map_err(|_| codec("a length beyond this machine"))
    }

    fn push(&mut self, stack: &mut Vec<Slot>, node: Node) {
        self.nodes.push(node);
        stack.push(Slot::Node(self.nodes.len() - 1));
    }

    fn run(&mut self) -> Result<usize> {
        let mut stack: Vec<Slot> = Vec::new();
        let mut memo: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
        loop {
            let op = self.u8()?;
            match op {
                PROTO => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(codec(format!("protocol {proto} is newer than 5")));
                    }
                }
                FRAME => {
                    self.take(8)?;
                }
                STOP => {
                    return match (stack.pop(), stack.is_empty()) {
                        (Some(Slot::Node(i)), true) => Ok(i),
                        _ => Err(codec("the pickle stopped with a malformed stack")),
                    };
                }
                MARK => stack.push(Slot::Mark),
                POP => {
                    stack.pop();
                }
                POP_MARK => {
                    pop_mark(&mut stack)?;
                }
                DUP => {
                    let i = top(&stack)?;
                    stack.push(Slot::Node(i));
                }
                NONE => self.push(&mut stack, Node::Leaf(Value::None)),
                NEWTRUE => self.push(&mut stack, Node::Leaf(Value::Bool(true))),
                NEWFALSE => self.push(&mut stack, Node::Leaf(Value::Bool(false))),
                BININT => {
                    let v = i32::from_le_bytes(self.array()?);
                    self.push(&mut stack, Node::Leaf(Value::Int(v.into())));
                }
                BININT1 => {
                    let v = self.u8()?;
                    self.push(&mut stack, Node::Leaf(Value::Int(v.into())));
                }
                BININT2 => {
                    let v = u16::from_le_bytes(self.array()?);
                    self.push(&mut stack, Node::Leaf(Value::Int(v.into())));
                }
                LONG1 | LONG4 => {
                    let n = if op == LONG1 {
                        self.u8()? as usize
                    } else {
                        u32::from_le_bytes(self.array()?) as usize
                    };
                    let b = self.take(n)?;
                    if n > 16 {
                        return Err(codec(format!("an int of {n} bytes is beyond 128 bits")));
                    }
                    let fill = if b.last().is_some_and(|&x| x & 0x80 != 0) {
                        0xff
                    } else {
                        0
                    };
                    let mut full = [fill; 16];
                    full[..n].copy_from_slice(b);
                    let v = i128::from_le_bytes(full);
                    self.push(&mut stack, Node::Leaf(Value::Int(v)));
                }
                BINFLOAT => {
                    let v = f64::from_be_bytes(self.array()?);
                    self.push(&mut stack, Node::Leaf(Value::Float(v)));
                }
                SHORT_BINUNICODE | BINUNICODE | BINUNICODE8 => {
                    let n = match op {
                        SHORT_BINUNICODE => self.u8()? as usize,
                        BINUNICODE => u32::from_le_bytes(self.array()?) as usize,
                        _ => self.u64_len()?,
                    };
                    let s = std::str::from_utf8(self.take(n)?)
                        .map_err(|_| codec("a str that is not UTF-8"))?
                        .to_string();
                    self.push(&mut stack, Node::Leaf(Value::Str(s)));
                }
                SHORT_BINBYTES | BINBYTES | BINBYTES8 | BYTEARRAY8 => {
                    let n = match op {
                        SHORT_BINBYTES => self.u8()? as usize,
                        BINBYTES => u32::from_le_bytes(self.array()?) as usize,
                        _ => self.u64_len()?,
                    };
                    let b = self.take(n)?.to_vec();
                    self.push(&mut stack, Node::Leaf(Value::Bytes(b)));
                }
                EMPTY_LIST | EMPTY_SET => self.push(&mut stack, Node::List(Vec::new())),
                EMPTY_TUPLE => self.push(&mut stack, Node::Tuple(Vec::new())),
                EMPTY_DICT => self.push(&mut stack, Node::Dict(Vec::new())),
                APPEND => {
                    let v = pop_node(&mut stack)?;
                    self.list_at(&stack)?.push(v);
                }
                APPENDS | ADDITEMS => {
                    let items = pop_mark(&mut stack)?;
                    self.list_at(&stack)?.extend(items);
                }
                SETITEM => {
                    let v = pop_node(&mut stack)?;
                    let k = pop_node(&mut stack)?;
                    self.dict_at(&stack)?.push((k, v));
                }
                SETITEMS => {
                    let items = pop_mark(&mut stack)?;
                    if items.len() % 2 != 0 {
                        return Err(codec("SETITEMS with an odd number of items"));
                    }
                    let dict = self.dict_at(&stack)?;
                    dict.extend(items.chunks_exact(2).map(|kv| (kv[0], kv[1])));
                }
                TUPLE => {
                    let items = pop_mark(&mut stack)?;
                    self.push(&mut stack, Node::Tuple(items));
                }
                FROZENSET => {
                    let items = pop_mark(&mut stack)?;
                    self.push(&mut stack, Node::List(items));
                }
                TUPLE1 | TUPLE2 | TUPLE3 => {
                    let n = (op - TUPLE1 + 1) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(pop_node(&mut stack)?);
                    }
                    items.reverse();
                    self.push(&mut stack, Node::Tuple(items));
                }
                BINPUT | LONG_BINPUT | MEMOIZE => {
                    let id = match op {
                        BINPUT => u32::from(self.u8()?),
                        LONG_BINPUT => u32::from_le_bytes(self.array()?),
                        _ => memo.len() as u32,
                    };
                    memo.insert(id, top(&stack)?);
                }
                BINGET | LONG_BINGET => {
                    let id = if op == BINGET {
                        u32::from(self.u8()?)
                    } else {
                        u32::from_le_bytes(self.array()?)
                    };
                    let i = *memo
                        .get(&id)
                        .ok_or_else(|| codec(format!("memo entry {id} was never stored")))?;
                    stack.push(Slot::Node(i));
                }
                other => {
                    return Err(codec(format!(
                        "opcode {other:#04x} ({}) is not plain data: classes, globals and calls are never run",
                        opcode_name(other)
                    )));
                }
            }
        }
    }

    fn list_at(&mut self, stack: &[Slot]) -> Result<&mut Vec<usize>> {
        match self.nodes.get_mut(top(stack)?) {
            Some(Node::List(items)) => Ok(items),
            _ => Err(codec("APPEND to something that is not a list")),
        }
    }

    fn dict_at(&mut self, stack: &[Slot]) -> Result<&mut Vec<(usize, usize)>> {
        match self.nodes.get_mut(top(stack)?) {
            Some(Node::Dict(items)) => Ok(items),
            _ => Err(codec("SETITEM to something that is not a dict")),
        }
    }
}

fn top(stack: &[Slot]) -> Result<usize> {
    match stack.last() {
        Some(Slot::Node(i)) => Ok(*i),
        _ => Err(codec("an opcode needs a value and found none")),
    }
}

fn pop_node(stack: &mut Vec<Slot>) -> Result<usize> {
    match stack.pop() {
        Some(Slot::Node(i)) => Ok(i),
        _ => Err(codec("an opcode needs a value and found none")),
    }
}

fn pop_mark(stack: &mut Vec<Slot>) -> Result<Vec<usize>> {
    let at = stack
        .iter()
        .rposition(|s| matches!(s, Slot::Mark))
        .ok_or_else(|| codec("no MARK to pop to"))?;
    let items = stack
        .drain(at + 1..)
        .filter_map(|s| match s {
            Slot::Node(i) => Some(i),
            Slot::Mark => None,
        })
        .collect();
    stack.pop();
    Ok(items)
}

/// Turns the node graph into a tree, within the depth and copy budgets (a shared node is copied
/// where it is referenced; a node that contains itself exceeds the depth).
struct Builder<'a> {
    nodes: &'a [Node],
    elements: usize,
    bytes: usize,
}

impl Builder<'_> {
    fn build(&mut self, i: usize, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(codec(format!(
                "nesting deeper than {MAX_DEPTH} levels (or a container that holds itself)"
            )));
        }
        self.elements = self.elements.checked_sub(1).ok_or_else(|| {
            codec("the pickle expands to more elements than its size allows (memo references)")
        })?;
        let node = self
            .nodes
            .get(i)
            .ok_or_else(|| codec("a reference to no value"))?;
        Ok(match node {
            Node::Leaf(v) => {
                let len = match v {
                    Value::Str(s) => s.len(),
                    Value::Bytes(b) => b.len(),
                    _ => 0,
                };
                self.bytes = self.bytes.checked_sub(len).ok_or_else(|| {
                    codec("the pickle expands to more bytes than its size allows (memo references)")
                })?;
                v.clone()
            }
            Node::List(items) => Value::List(self.all(items, depth)?),
            Node::Tuple(items) => Value::Tuple(self.all(items, depth)?),
            Node::Dict(items) => Value::Dict(
                items
                    .iter()
                    .map(|&(k, v)| Ok((self.build(k, depth + 1)?, self.build(v, depth + 1)?)))
                    .collect::<Result<_>>()?,
            ),
        })
    }

    fn all(&mut self, items: &[usize], depth: usize) -> Result<Vec<Value>> {
        items.iter().map(|&i| self.build(i, depth + 1)).collect()
    }
}

fn opcode_name(op: u8) -> &'static str {
    match op {
        b'c' => "GLOBAL",
        0x93 => "STACK_GLOBAL",
        b'R' => "REDUCE",
        b'b' => "BUILD",
        0x81 => "NEWOBJ",
        0x92 => "NEWOBJ_EX",
        b'i' => "INST",
        b'o' => "OBJ",
        b'P' | b'Q' => "PERSID",
        0x82..=0x84 => "EXT",
        _ => "unknown",
    }
}

// ---- from a value to Rust -------------------------------------------------------------------

#[derive(Debug)]
struct DeError(String);

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError(msg.to_string())
    }
}

type DResult<T> = std::result::Result<T, DeError>;

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
        }
    }

    fn int<T: TryFrom<i128>>(self, ty: &str) -> DResult<T> {
        match self {
            Value::Int(v) => {
                T::try_from(v).map_err(|_| DeError(format!("the int {v} does not fit a {ty}")))
            }
            Value::Bool(b) => T::try_from(i128::from(b))
                .map_err(|_| DeError(format!("a bool does not fit a {ty}"))),
            other => Err(DeError(format!(
                "expected an int for a {ty}, got {}",
                other.kind()
            ))),
        }
    }
}

impl<'de> IntoDeserializer<'de, DeError> for Value {
    type Deserializer = Value;
    fn into_deserializer(self) -> Value {
        self
    }
}

macro_rules! ints {
    ($($method:ident $visit:ident $ty:ty),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> DResult<V::Value> {
            visitor.$visit(self.int::<$ty>(stringify!($ty))?)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Value {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> DResult<V::Value> {
        match self {
            Value::None => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Int(v) => match i64::try_from(v) {
                Ok(v) => visitor.visit_i64(v),
                Err(_) => visitor.visit_i128(v),
            },
            Value::Float(f) => visitor.visit_f64(f),
            Value::Str(s) => visitor.visit_string(s),
            Value::Bytes(b) => visitor.visit_byte_buf(b),
            Value::List(items) | Value::Tuple(items) => {
                visitor.visit_seq(de::value::SeqDeserializer::new(items.into_iter()))
            }
            Value::Dict(items) => {
                visitor.visit_map(de::value::MapDeserializer::new(items.into_iter()))
            }
        }
    }

    ints!(
        deserialize_i8 visit_i8 i8, deserialize_i16 visit_i16 i16, deserialize_i32 visit_i32 i32,
        deserialize_i64 visit_i64 i64, deserialize_i128 visit_i128 i128,
        deserialize_u8 visit_u8 u8, deserialize_u16 visit_u16 u16, deserialize_u32 visit_u32 u32,
        deserialize_u64 visit_u64 u64, deserialize_u128 visit_u128 u128
    );

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> DResult<V::Value> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> DResult<V::Value> {
        match self {
            Value::Float(f) => visitor.visit_f64(f),
            Value::Int(v) => visitor.visit_f64(v as f64),
            other => Err(DeError(format!("expected a float, got {}", other.kind()))),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> DResult<V::Value> {
        match self {
            Value::None => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> DResult<V::Value> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> DResult<V::Value> {
        match self {
            Value::Bytes(b) => visitor.visit_byte_buf(b),
            Value::Str(s) => visitor.visit_byte_buf(s.into_bytes()),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> DResult<V::Value> {
        match self {
            // A Vec<u8> (or any sequence of small ints) from Python bytes.
            Value::Bytes(b) => visitor.visit_seq(de::value::SeqDeserializer::new(
                b.into_iter().map(|x| Value::Int(x.into())),
            )),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> DResult<V::Value> {
        match self {
            Value::Str(s) => visitor.visit_enum(s.into_deserializer()),
            Value::Dict(mut items) if items.len() == 1 => {
                let (k, v) = items.remove(0);
                let Value::Str(name) = k else {
                    return Err(DeError(
                        "an enum's dict key must be its variant name (a str)".into(),
                    ));
                };
                visitor.visit_enum(Variant { name, value: v })
            }
            other => Err(DeError(format!(
                "expected an enum (a variant name, or a one-entry dict), got {}",
                other.kind()
            ))),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> DResult<V::Value> {
        match self {
            Value::None => visitor.visit_unit(),
            other => Err(DeError(format!("expected None, got {}", other.kind()))),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> DResult<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool char str string unit_struct tuple tuple_struct map struct identifier ignored_any
    }
}

/// `{name: content}` as an enum variant.
struct Variant {
    name: String,
    value: Value,
}

impl<'de> de::EnumAccess<'de> for Variant {
    type Error = DeError;
    type Variant = Value;
    fn variant_seed<S: de::DeserializeSeed<'de>>(self, seed: S) -> DResult<(S::Value, Value)> {
        let name: de::value::StringDeserializer<DeError> = self.name.into_deserializer();
        Ok((seed.deserialize(name)?, self.value))
    }
}

impl<'de> de::VariantAccess<'de> for Value {
    type Error = DeError;
    fn unit_variant(self) -> DResult<()> {
        Ok(())
    }
    fn newtype_variant_seed<S: de::DeserializeSeed<'de>>(self, seed: S) -> DResult<S::Value> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _: usize, visitor: V) -> DResult<V::Value> {
        de::Deserializer::deserialize_any(self, visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        visitor: V,
    ) -> DResult<V::Value> {
        de::Deserializer::deserialize_any(self, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Job {
        id: u32,
        name: String,
        weights: Vec<f64>,
        tags: BTreeMap<String, i64>,
        parent: Option<Box<Job>>,
        kind: Kind,
    }

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    enum Kind {
        Quick,
        Retry(u8),
        Pair(i32, i32),
        Named { why: String },
    }

    #[test]
    fn values_round_trip_through_our_own_pickles() {
        let job = Job {
            id: 7,
            name: "résumé".into(),
            weights: vec![0.5, -1e300],
            tags: BTreeMap::from([("a".into(), -1), ("big".into(), i64::MAX)]),
            parent: Some(Box::new(Job {
                id: 1,
                name: String::new(),
                weights: vec![],
                tags: BTreeMap::new(),
                parent: None,
                kind: Kind::Named { why: "x".into() },
            })),
            kind: Kind::Pair(-5, 70_000),
        };
        assert_eq!(loads::<Job>(&dumps(&job).unwrap()).unwrap(), job);
        for k in [Kind::Quick, Kind::Retry(3)] {
            assert_eq!(loads::<Kind>(&dumps(&k).unwrap()).unwrap(), k);
        }
        for v in [
            0i128,
            255,
            256,
            65_535,
            65_536,
            -1,
            i64::MIN.into(),
            i128::MAX,
            i128::MIN,
        ] {
            assert_eq!(loads::<i128>(&dumps(&v).unwrap()).unwrap(), v, "{v}");
        }
        let t = (1u8, "two".to_string(), vec![3u16], crate::Bytes(vec![4, 5]));
        assert_eq!(
            loads::<(u8, String, Vec<u16>, crate::Bytes)>(&dumps(&t).unwrap()).unwrap(),
            t
        );
    }

    #[test]
    fn a_pickle_that_asks_for_code_is_refused_not_run() {
        // pickle.dumps(os.system) style: GLOBAL 'os\nsystem\n', then a REDUCE.
        let evil = b"\x80\x03cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.";
        let e = loads::<String>(evil).unwrap_err();
        assert!(e.to_string().contains("GLOBAL"), "{e}");
    }

    #[test]
    fn hostile_shapes_are_bounded() {
        // A list nested 10,000 deep: refused, no stack overflow.
        let mut deep = vec![PROTO, 3];
        deep.extend(std::iter::repeat_n(EMPTY_LIST, 10_000));
        deep.extend(std::iter::repeat_n(APPEND, 9_999));
        deep.push(STOP);
        assert!(
            loads::<Value2>(&deep)
                .unwrap_err()
                .to_string()
                .contains("nesting")
        );
        // A list that holds itself.
        let cyc = [PROTO, 3, EMPTY_LIST, BINPUT, 0, BINGET, 0, APPEND, STOP];
        assert!(loads::<Value2>(&cyc).is_err());
        // Memo doubling: each list holds the previous one twice; 40 levels is 2^40 elements.
        let mut bomb = vec![PROTO, 3, EMPTY_LIST, BINPUT, 0];
        for i in 1..=40u8 {
            bomb.extend_from_slice(&[POP, EMPTY_LIST, BINGET, i - 1, APPEND, BINGET, i - 1]);
            bomb.extend_from_slice(&[APPEND, BINPUT, i]);
        }
        bomb.push(STOP);
        let e = loads::<Value2>(&bomb).unwrap_err();
        assert!(e.to_string().contains("expands"), "{e}");
        // Lengths past the end.
        for bad in [
            &[PROTO, 3, BINUNICODE, 0xff, 0xff, 0xff, 0x7f][..],
            &[
                PROTO, 3, BINBYTES8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ][..],
            &[PROTO, 3][..],
            &[][..],
        ] {
            assert!(loads::<Value2>(bad).is_err());
        }
    }

    #[test]
    fn random_and_mutated_pickles_never_panic() {
        let valid = dumps(&(
            vec![1u32, 300, 70_000],
            "text".to_string(),
            BTreeMap::from([("k".to_string(), vec![1.5f64])]),
            Some(crate::Bytes(vec![9; 300])),
        ))
        .unwrap();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..100_000 {
            let frame: Vec<u8> = if i % 2 == 0 {
                let mut f = valid.clone();
                for _ in 0..1 + next() % 4 {
                    let at = (next() as usize) % f.len();
                    f[at] = next() as u8;
                }
                f
            } else {
                (0..next() % 64).map(|_| next() as u8).collect()
            };
            let _ = loads::<Value2>(&frame);
        }
    }

    /// Any plain value, for the hostile tests.
    #[derive(serde::Deserialize, Debug)]
    #[serde(untagged)]
    #[allow(dead_code)]
    enum Value2 {
        Unit(()),
        Int(i64),
        Str(String),
        List(Vec<Value2>),
    }
}
