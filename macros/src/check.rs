//! Validation shared by the macros: collecting spanned errors, and rejecting types that cannot travel
//! between processes by value.

use proc_macro2::Span;
use syn::Type;
use syn::spanned::Spanned;
use syn::visit::Visit;

/// Every mistake found, each with its span, reported together.
#[derive(Default)]
pub(crate) struct Errors(pub(crate) Option<syn::Error>);

impl Errors {
    /// Records a mistake at `span`.
    pub(crate) fn push(&mut self, span: Span, msg: impl std::fmt::Display) {
        self.push_error(syn::Error::new(span, msg));
    }

    /// Records an error that already carries its span (a parse error, say).
    pub(crate) fn push_error(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    /// True when nothing was recorded.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// `output` as it is when nothing was recorded; otherwise every error, followed by `output` so
    /// that the user's item still exists for the rest of the crate (no follow-on errors).
    pub(crate) fn finish(self, output: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
        match self.0 {
            Some(e) => {
                let e = e.to_compile_error();
                quote::quote!(#e #output)
            }
            None => output,
        }
    }
}

/// Finds the first part of a type that cannot cross a process boundary by value.
struct Borrowing {
    what: &'static str,
    found: Option<(Span, String)>,
}

impl Borrowing {
    fn note(&mut self, span: Span, msg: String) {
        self.found.get_or_insert((span, msg));
    }
}

impl<'ast> Visit<'ast> for Borrowing {
    fn visit_type_reference(&mut self, r: &'ast syn::TypeReference) {
        let msg = format!(
            "{} arguments and results travel by value between processes: use an owned type \
             (String, Vec<T>, ...) instead of a reference",
            self.what
        );
        self.note(r.span(), msg);
    }
    fn visit_lifetime(&mut self, l: &'ast syn::Lifetime) {
        let msg = format!(
            "{} arguments and results must own their data: remove the lifetime",
            self.what
        );
        self.note(l.span(), msg);
    }
    fn visit_type_impl_trait(&mut self, t: &'ast syn::TypeImplTrait) {
        self.note(
            t.span(),
            "`impl Trait` cannot cross a process boundary: name a concrete type".into(),
        );
    }
    fn visit_type_ptr(&mut self, t: &'ast syn::TypePtr) {
        self.note(
            t.span(),
            "raw pointers cannot cross a process boundary".into(),
        );
    }
    fn visit_type_bare_fn(&mut self, t: &'ast syn::TypeBareFn) {
        let msg =
            "function pointers cannot cross a process boundary: pass data, or a worker's name";
        self.note(t.span(), msg.into());
    }
}

/// Reports the first part of `ty` that cannot travel between processes; `what` names the item in the
/// message ("worker", "managed method").
pub(crate) fn check_type(ty: &Type, what: &'static str, errors: &mut Errors) {
    let mut v = Borrowing { what, found: None };
    v.visit_type(ty);
    if let Some((span, msg)) = v.found {
        errors.push(span, msg);
    }
}

/// Parses the arguments every attribute macro accepts: nothing, or `crate = path` naming the
/// `multiproc` crate when it is reached through another path (a re-export), as serde's and tokio's
/// `crate` options do. Returns the path generated code starts from (`::multiproc` by default).
pub(crate) fn crate_path(
    attr: proc_macro2::TokenStream,
    macro_name: &str,
    errors: &mut Errors,
) -> syn::Path {
    let mut krate: Option<syn::Path> = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("crate") {
            if krate.is_some() {
                return Err(meta.error("`crate` given twice"));
            }
            krate = Some(meta.value()?.parse()?);
            Ok(())
        } else {
            Err(meta.error(format!(
                "#[multiproc::{macro_name}] takes no arguments other than `crate = path::to::multiproc`"
            )))
        }
    });
    if let Err(e) = syn::parse::Parser::parse2(parser, attr) {
        errors.push_error(e);
    }
    krate.unwrap_or_else(|| syn::parse_quote!(::multiproc))
}
