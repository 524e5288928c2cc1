//! `#[multiproc::main]` and `#[multiproc::test]`: insert the bootstrap call before the user's code.

use crate::check::{Errors, crate_path};
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, parse2};

pub(crate) fn expand_main(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let krate = crate_path(attr, "main", &mut errors);
    let mut func: ItemFn = match parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => {
            errors.push_error(e);
            return errors.finish(item);
        }
    };
    if func.sig.ident != "main" {
        errors.push(
            func.sig.ident.span(),
            "#[multiproc::main] goes on `fn main`; use #[multiproc::worker] for workers",
        );
    }
    if !func.sig.inputs.is_empty() {
        errors.push(func.sig.inputs.span(), "`main` takes no arguments");
    }
    let span = func.sig.ident.span();
    let call: syn::Stmt = syn::parse_quote_spanned!(span=>
        let __multiproc_main_guard = #krate::__private::bootstrap();
    );
    func.block.stmts.insert(0, call);
    errors.finish(quote!(#func))
}

pub(crate) fn expand_test(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let krate = crate_path(attr, "test", &mut errors);
    let mut func: ItemFn = match parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => {
            errors.push_error(e);
            return errors.finish(item);
        }
    };
    if let Some(a) = func.attrs.iter().find(|a| a.path().is_ident("test")) {
        errors.push(
            a.span(),
            "remove #[test]: #[multiproc::test] already makes this a test",
        );
    }
    if func.sig.asyncness.is_some() {
        errors.push(
            func.sig.asyncness.span(),
            "#[multiproc::test] functions cannot be async",
        );
    }
    if !func.sig.inputs.is_empty() {
        errors.push(func.sig.inputs.span(), "test functions take no arguments");
    }
    let ident = &func.sig.ident;
    let name = ident.to_string();
    let span = ident.span();
    let call: syn::Stmt = syn::parse_quote_spanned!(span=>
        #krate::__private::test_entry(::core::concat!(::core::module_path!(), "::", #name));
    );
    func.block.stmts.insert(0, call);
    let marker = quote_spanned!(span=> #[::core::prelude::v1::test]);
    errors.finish(quote!(#marker #func))
}
