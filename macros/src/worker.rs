//! `#[multiproc::worker]`: validate the function, then emit it unchanged, a `name::spawn` helper module
//! and its registry entry.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{FnArg, ItemFn, ReturnType, Type, parse2};

/// Every mistake found, each with its span, reported together.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, span: Span, msg: impl std::fmt::Display) {
        let e = syn::Error::new(span, msg);
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }
}

/// Finds what makes a type unfit to cross a process boundary by value.
struct Borrowing(Option<(Span, &'static str)>);

impl<'ast> Visit<'ast> for Borrowing {
    fn visit_type_reference(&mut self, r: &'ast syn::TypeReference) {
        self.0.get_or_insert((r.span(), "worker arguments and results travel by value: use an owned type (String, Vec<T>, ...) instead of a reference"));
    }
    fn visit_lifetime(&mut self, l: &'ast syn::Lifetime) {
        self.0.get_or_insert((
            l.span(),
            "worker arguments and results must own their data: remove the lifetime",
        ));
    }
    fn visit_type_impl_trait(&mut self, t: &'ast syn::TypeImplTrait) {
        self.0.get_or_insert((
            t.span(),
            "`impl Trait` cannot cross a process boundary: name a concrete type",
        ));
    }
    fn visit_type_ptr(&mut self, t: &'ast syn::TypePtr) {
        self.0
            .get_or_insert((t.span(), "raw pointers cannot cross a process boundary"));
    }
    fn visit_type_bare_fn(&mut self, t: &'ast syn::TypeBareFn) {
        self.0.get_or_insert((
            t.span(),
            "function pointers cannot cross a process boundary: pass data, or a worker's name",
        ));
    }
}

fn check_type(ty: &Type, errors: &mut Errors) {
    let mut v = Borrowing(None);
    v.visit_type(ty);
    if let Some((span, msg)) = v.0 {
        errors.push(span, msg);
    }
}

fn validate(func: &ItemFn, errors: &mut Errors) {
    let sig = &func.sig;
    if let Some(a) = &sig.asyncness {
        errors.push(a.span(), "#[multiproc::worker] functions cannot be async: make it a plain fn (it runs in its own process)");
    }
    if let Some(u) = &sig.unsafety {
        errors.push(
            u.span(),
            "#[multiproc::worker] functions cannot be unsafe: wrap the unsafe call in a safe fn",
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(
            sig.generics.span(),
            "#[multiproc::worker] functions cannot be generic: the child must know the concrete types; write one worker per type",
        );
    }
    if let Some(v) = &sig.variadic {
        errors.push(
            v.span(),
            "#[multiproc::worker] functions cannot be variadic",
        );
    }
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => errors.push(
                r.span(),
                "#[multiproc::worker] goes on a free function, not a method: take the value as an ordinary argument",
            ),
            FnArg::Typed(pt) => check_type(&pt.ty, errors),
        }
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        check_type(ty, errors);
    }
}

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    if !attr.is_empty() {
        errors.push(attr.span(), "#[multiproc::worker] takes no arguments");
    }
    let func: ItemFn = match parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Fn(f)) => f,
        Ok(other) => {
            let e = syn::Error::new(
                other.span(),
                "#[multiproc::worker] goes on a free function: `fn name(args..) -> R { .. }`",
            )
            .to_compile_error();
            return quote!(#e #item);
        }
        Err(e) => {
            let e = e.to_compile_error();
            return quote!(#e #item);
        }
    };
    validate(&func, &mut errors);
    if let Some(e) = errors.0 {
        let e = e.to_compile_error();
        return quote!(#e #func);
    }
    generate(&func)
}

fn generate(func: &ItemFn) -> TokenStream {
    let ident = &func.sig.ident;
    let vis = &func.vis;
    let name = ident.to_string();
    let types: Vec<&Type> = func
        .sig
        .inputs
        .iter()
        .filter_map(|a| match a {
            FnArg::Typed(pt) => Some(&*pt.ty),
            FnArg::Receiver(_) => None,
        })
        .collect();
    let args: Vec<_> = (0..types.len())
        .map(|i| format_ident!("arg{}", i))
        .collect();
    let output = match &func.sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    };
    // The generated items exist exactly when the function does.
    let cfgs: Vec<&syn::Attribute> = func
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg") || a.path().is_ident("cfg_attr"))
        .collect();
    let mod_doc =
        format!("Process helpers generated by `#[multiproc::worker]` for [`{name}`](fn@{name}).");
    let spawn_doc = format!(
        "Starts `{name}(..)` in a new child process; `join()` the returned process for its result. \
         Python: `Process(target={name}, args=(..)).start()`."
    );
    quote! {
        #func

        #(#cfgs)*
        #[doc = #mod_doc]
        #[allow(non_snake_case, unused_imports)]
        #vis mod #ident {
            use super::*;

            #[doc = #spawn_doc]
            pub fn spawn(#(#args: #types),*) -> ::multiproc::Result<::multiproc::Process<#output>> {
                ::multiproc::__private::spawn(super::#ident, (#(#args,)*))
            }
        }

        #(#cfgs)*
        const _: () = {
            ::multiproc::__private::inventory::submit! {
                ::multiproc::__private::WorkerEntry {
                    name: ::core::concat!(::core::module_path!(), "::", #name),
                    type_name: || ::multiproc::__private::type_name_of(&#ident),
                    invoke: |bytes, fds| ::multiproc::__private::invoke(
                        bytes,
                        fds,
                        |(#(#args,)*): (#(#types,)*)| #ident(#(#args),*),
                    ),
                    invoke_batch: ::core::option::Option::Some(|bytes, fds, out, out_fds| {
                        ::multiproc::__private::invoke_batch(
                            bytes,
                            fds,
                            out,
                            out_fds,
                            |(#(#args,)*): (#(#types,)*)| #ident(#(#args),*),
                        )
                    }),
                }
            }
        };
    }
}
