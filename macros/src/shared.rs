//! `#[multiproc::shared]`: validate a struct for life in shared memory, then emit it with `#[repr(C)]`,
//! a compile-time check that every field is `Shareable` (each error spanned at its field) and the
//! `Shareable` impl.

use crate::check::{Errors, crate_path};
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Item, ItemStruct, parse2};

/// Finds what can never live in shared memory, with a message saying why.
struct Unshareable(Option<(Span, &'static str)>);

impl<'ast> Visit<'ast> for Unshareable {
    fn visit_type_reference(&mut self, r: &'ast syn::TypeReference) {
        self.0.get_or_insert((
            r.span(),
            "references cannot live in shared memory: another process maps it at another address; store the value itself",
        ));
    }
    fn visit_type_ptr(&mut self, t: &'ast syn::TypePtr) {
        self.0.get_or_insert((
            t.span(),
            "raw pointers cannot live in shared memory: another process maps it at another address; store an index or offset instead",
        ));
    }
    fn visit_type_bare_fn(&mut self, t: &'ast syn::TypeBareFn) {
        self.0.get_or_insert((
            t.span(),
            "function pointers cannot live in shared memory: each process has its own addresses",
        ));
    }
    fn visit_type_trait_object(&mut self, t: &'ast syn::TypeTraitObject) {
        self.0.get_or_insert((
            t.span(),
            "trait objects cannot live in shared memory: use a concrete Shareable type",
        ));
    }
    fn visit_lifetime(&mut self, l: &'ast syn::Lifetime) {
        self.0.get_or_insert((
            l.span(),
            "shared-memory data cannot borrow: remove the lifetime",
        ));
    }
}

/// True if a `#[cfg_attr(..)]` would apply a `repr` (at any depth).
fn names_repr(attr: &syn::Attribute) -> bool {
    fn walk(tokens: proc_macro2::TokenStream) -> bool {
        tokens.into_iter().any(|t| match t {
            proc_macro2::TokenTree::Ident(i) => i == "repr",
            proc_macro2::TokenTree::Group(g) => walk(g.stream()),
            _ => false,
        })
    }
    match &attr.meta {
        syn::Meta::List(list) => walk(list.tokens.clone()),
        _ => false,
    }
}

fn validate(item: &ItemStruct, errors: &mut Errors) {
    for attr in &item.attrs {
        if attr.path().is_ident("repr") || (attr.path().is_ident("cfg_attr") && names_repr(attr)) {
            errors.push(
                attr.span(),
                "#[multiproc::shared] sets #[repr(C)] itself: remove this #[repr(..)]",
            );
        }
    }
    for param in item.generics.lifetimes() {
        errors.push(
            param.span(),
            "#[multiproc::shared] structs cannot borrow: remove the lifetime parameter",
        );
    }
    for field in &item.fields {
        let mut v = Unshareable(None);
        v.visit_type(&field.ty);
        if let Some((span, msg)) = v.0 {
            errors.push(span, msg);
        }
    }
}

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let krate = crate_path(attr, "shared", &mut errors);
    let strukt = match parse2::<Item>(item.clone()) {
        Ok(Item::Struct(s)) => s,
        Ok(other) => {
            errors.push(
                kind_span(&other),
                "#[multiproc::shared] goes on a struct: enums and unions have values that are not valid as all-zero shared memory; use integer fields instead",
            );
            return errors.finish(item);
        }
        Err(e) => {
            errors.push_error(e);
            return errors.finish(item);
        }
    };
    validate(&strukt, &mut errors);
    if !errors.is_empty() {
        return errors.finish(quote!(#strukt));
    }
    generate(&strukt, &krate)
}

fn kind_span(item: &Item) -> Span {
    match item {
        Item::Enum(e) => e.enum_token.span(),
        Item::Union(u) => u.union_token.span(),
        other => other.span(),
    }
}

/// True if `ty` names one of `params` (so a bound on it is not trivially true or false).
fn mentions(ty: &syn::Type, params: &[&syn::Ident]) -> bool {
    struct Finder<'p>(&'p [&'p syn::Ident], bool);
    impl<'ast> Visit<'ast> for Finder<'_> {
        fn visit_ident(&mut self, i: &'ast syn::Ident) {
            self.1 |= self.0.contains(&i);
        }
    }
    let mut f = Finder(params, false);
    f.visit_type(ty);
    f.1
}

fn generate(item: &ItemStruct, krate: &syn::Path) -> TokenStream {
    let ident = &item.ident;
    let params: Vec<&syn::Ident> = item.generics.type_params().map(|p| &p.ident).collect();
    let mut impl_bounds = item.generics.clone();
    let clause = impl_bounds.make_where_clause();
    for f in &item.fields {
        if mentions(&f.ty, &params) {
            let ty = &f.ty;
            clause
                .predicates
                .push(syn::parse_quote!(#ty: #krate::__private::Shareable));
        }
    }
    let (_, _, impl_where) = impl_bounds.split_for_impl();
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    let tearable = item.fields.iter().map(|f| {
        let ty = &f.ty;
        // The same call as the field check, at the same span: a non-Shareable field gets one error.
        quote_spanned!(ty.span()=> || __multiproc_assert_shareable::<#ty>())
    });
    let mut atomic_generics = impl_bounds.clone();
    let atomic_clause = atomic_generics.make_where_clause();
    for f in &item.fields {
        let ty = &f.ty;
        atomic_clause.predicates.push(syn::parse_quote!(
            for<'__multiproc> #ty: #krate::__private::AtomicShareable
        ));
    }
    let (_, _, atomic_where) = atomic_generics.split_for_impl();
    let checks = item.fields.iter().map(|f| {
        let ty = &f.ty;
        quote_spanned! {ty.span()=> __multiproc_assert_shareable::<#ty>(); }
    });
    quote! {
        #[repr(C)]
        #item

        const _: () = {
            const fn __multiproc_assert_shareable<T: #krate::__private::Shareable>() -> bool {
                T::TEARABLE
            }

            #[allow(dead_code)]
            fn __multiproc_check_fields #impl_generics () #where_clause {
                #(#checks)*
            }

            // SAFETY: #[repr(C)], and every field is Shareable (checked above for every instantiation
            // the struct's bounds allow), so the struct holds no pointers and is valid when all-zero.
            #[automatically_derived]
            unsafe impl #impl_generics #krate::__private::Shareable for #ident #ty_generics #impl_where {
                const TEARABLE: bool = false #(#tearable)*;
            }

            // SAFETY: applies only when every field is made only of atomics (the higher-ranked bounds
            // keep it from being an error when some field is not).
            #[automatically_derived]
            unsafe impl #impl_generics #krate::__private::AtomicShareable for #ident #ty_generics #atomic_where {}
        };
    }
}
