//! `#[multiproc::managed]` on an inherent `impl` block: validate the methods, then emit the block
//! unchanged, a typed `<Type>Proxy` with one method per `pub` method taking `&self` / `&mut self`, the
//! `Managed` impl naming it, and the type's registry entry (decode the arguments, call, encode).

use crate::check::{Errors, check_type, crate_path};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{
    FnArg, GenericArgument, ImplItem, ImplItemFn, ItemImpl, PathArguments, ReturnType, Type,
    Visibility, parse2,
};

/// A method the proxy gets.
struct Method<'a> {
    func: &'a ImplItemFn,
    /// Argument types, with `Self` spelled as the impl's type (the proxy's `Self` is the proxy).
    types: Vec<Type>,
    /// The proxy's `Ok` type, and whether the method returns a `Result` whose error goes back as `Remote`.
    output: TokenStream,
    fallible: bool,
}

/// `Result<T, ..>` (any path ending in `Result`): its `T`.
fn result_ok_type(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    }
}

/// Replaces `Self` with the impl's type: generated code pastes these types where `Self` means the
/// proxy, or nothing at all.
struct ReplaceSelf<'a>(&'a Type);

impl VisitMut for ReplaceSelf<'_> {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.is_ident("Self")) {
            *ty = self.0.clone();
        } else {
            visit_mut::visit_type_mut(self, ty);
        }
    }
}

fn without_self(ty: &Type, self_ty: &Type) -> Type {
    let mut ty = ty.clone();
    ReplaceSelf(self_ty).visit_type_mut(&mut ty);
    ty
}

/// `pub` methods taking a receiver: the generated proxy is `pub`, and a `pub(crate)` method must not
/// become reachable through it from outside the crate.
fn exposed(func: &ImplItemFn) -> bool {
    matches!(func.vis, Visibility::Public(_))
        && matches!(func.sig.inputs.first(), Some(FnArg::Receiver(_)))
}

fn validate<'a>(item: &'a ItemImpl, errors: &mut Errors) -> Vec<Method<'a>> {
    if let Some((_, path, _)) = &item.trait_ {
        errors.push(
            path.span(),
            "#[multiproc::managed] goes on the type's inherent impl block (`impl Counter { .. }`), not a trait impl",
        );
    }
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        errors.push(
            item.generics.span(),
            "#[multiproc::managed] types cannot be generic: the server must know the concrete type; \
             wrap one instantiation in a struct of its own",
        );
    }
    if !matches!(&*item.self_ty, Type::Path(p) if p.qself.is_none()) {
        errors.push(
            item.self_ty.span(),
            "#[multiproc::managed] needs a named type (`impl Counter { .. }`)",
        );
    }
    let mut methods = Vec::new();
    for it in &item.items {
        let ImplItem::Fn(func) = it else { continue };
        if !exposed(func) {
            continue;
        }
        let sig = &func.sig;
        if let Some(FnArg::Receiver(r)) = sig.inputs.first() {
            if r.reference.is_none() {
                errors.push(
                    r.span(),
                    "managed methods take `&self` or `&mut self`: the object stays in the manager's server",
                );
            }
        }
        if let Some(a) = &sig.asyncness {
            errors.push(a.span(), "managed methods cannot be async");
        }
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            errors.push(
                sig.generics.span(),
                "managed methods cannot be generic: the server must know the concrete types",
            );
        }
        let types: Vec<Type> = sig
            .inputs
            .iter()
            .filter_map(|a| match a {
                FnArg::Typed(pt) => Some(without_self(&pt.ty, &item.self_ty)),
                FnArg::Receiver(_) => None,
            })
            .collect();
        for ty in &types {
            check_type(ty, "managed method", errors);
        }
        let (output, fallible) = match &sig.output {
            ReturnType::Default => (quote!(()), false),
            ReturnType::Type(_, ty) => {
                check_type(ty, "managed method", errors);
                let ty = &without_self(ty, &item.self_ty);
                match result_ok_type(ty) {
                    Some(ok) => (quote!(#ok), true),
                    None => (quote!(#ty), false),
                }
            }
        };
        methods.push(Method {
            func,
            types,
            output,
            fallible,
        });
    }
    if methods.is_empty() && errors.is_empty() {
        errors.push(
            item.self_ty.span(),
            "#[multiproc::managed] found no `pub` method taking `&self` or `&mut self`: the proxy would have nothing to call",
        );
    }
    methods
}

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let krate = crate_path(attr, "managed", &mut errors);
    let imp: ItemImpl = match parse2(item.clone()) {
        Ok(i) => i,
        Err(e) => {
            errors.push_error(e);
            return errors.finish(item);
        }
    };
    let methods = validate(&imp, &mut errors);
    if errors.is_empty() {
        return generate(&imp, &methods, &krate, false);
    }
    // Still declare the proxy and the `Managed` impl (no registry entry, no working bodies) so that the
    // rest of the crate sees `TypeProxy` and gets no follow-on errors, when the impl allows it.
    let shell = imp.trait_.is_none()
        && imp.generics.params.is_empty()
        && imp.generics.where_clause.is_none()
        && matches!(&*imp.self_ty, Type::Path(p) if p.qself.is_none());
    if shell {
        errors.finish(generate(&imp, &methods, &krate, true))
    } else {
        errors.finish(quote!(#imp))
    }
}

/// The proxy, its impls and the registry entry; with `shell`, only the declarations (method bodies that
/// never run, no registry entry): the expansion that goes with a compile error.
fn generate(imp: &ItemImpl, methods: &[Method<'_>], krate: &syn::Path, shell: bool) -> TokenStream {
    let ty = &imp.self_ty;
    let Type::Path(path) = &**ty else {
        unreachable!("validated: a path type")
    };
    let ident = &path
        .path
        .segments
        .last()
        .expect("validated: a path has a segment")
        .ident;
    let type_name = ident.to_string();
    let proxy = format_ident!("{}Proxy", ident);
    let p = quote!(#krate::__private);
    let proxy_doc = format!(
        "Proxy to a [`{type_name}`] held by a [`Manager`](multiproc::Manager), generated by \
         `#[multiproc::managed]`: each method runs the same-named method in the manager's server. \
         `Clone`, and a valid worker argument. Python: the proxy `BaseManager.register('{type_name}', {type_name})` creates."
    );
    let proxy_methods = methods
        .iter()
        .filter(|m| !shell || m.func.sig.generics.params.is_empty())
        .map(|m| {
            let name = &m.func.sig.ident;
            let method = name.to_string();
            let args: Vec<_> = (0..m.types.len())
                .map(|i| format_ident!("arg{}", i))
                .collect();
            let types = &m.types;
            let output = &m.output;
            let docs = m.func.attrs.iter().filter(|a| a.path().is_ident("doc"));
            let call_doc = format!("Calls `{type_name}::{method}` in the manager's server.");
            let body = if shell {
                quote!(::core::unreachable!(
                    "#[multiproc::managed] reported a compile error"
                ))
            } else {
                quote!(#p::ProxyCore::call(&self.0, #method, &(#(#args,)*)))
            };
            quote_spanned! {m.func.sig.span()=>
                #(#docs)*
                #[doc = ""]
                #[doc = #call_doc]
                pub fn #name(&self, #(#args: #types),*) -> #krate::Result<#output> {
                    #body
                }
            }
        });
    let registration = if shell {
        quote!()
    } else {
        registration(ty, methods, krate, &p)
    };
    quote! {
        #imp

        #[doc = #proxy_doc]
        #[derive(Clone, Debug)]
        pub struct #proxy(#p::ProxyCore);

        #[automatically_derived]
        impl #p::serde::Serialize for #proxy {
            fn serialize<S: #p::serde::Serializer>(&self, s: S) -> ::core::result::Result<S::Ok, S::Error> {
                #p::serde::Serialize::serialize(&self.0, s)
            }
        }

        #[automatically_derived]
        impl<'de> #p::serde::Deserialize<'de> for #proxy {
            fn deserialize<D: #p::serde::Deserializer<'de>>(d: D) -> ::core::result::Result<Self, D::Error> {
                <#p::ProxyCore as #p::serde::Deserialize<'de>>::deserialize(d).map(#proxy)
            }
        }

        #[automatically_derived]
        impl #krate::manager::Proxy for #proxy {
            fn tag() -> ::std::string::String {
                ::std::string::ToString::to_string(<#ty as #krate::Managed>::NAME)
            }
            fn from_core(core: #p::ProxyCore) -> Self {
                #proxy(core)
            }
            fn core(&self) -> &#p::ProxyCore {
                &self.0
            }
        }

        #[automatically_derived]
        impl #krate::Managed for #ty {
            type Proxy = #proxy;
            const NAME: &'static str = ::core::concat!(::core::module_path!(), "::", #type_name);
        }

        // The proxy is `pub` whatever the type's visibility (an impl block does not tell it): a
        // private type in a method's signature is no reason to warn.
        #[allow(private_interfaces)]
        impl #proxy {
            #(#proxy_methods)*
        }

        #registration
    }
}

fn registration(
    ty: &Type,
    methods: &[Method<'_>],
    krate: &syn::Path,
    p: &TokenStream,
) -> TokenStream {
    let arms = methods.iter().map(|m| {
        let name = &m.func.sig.ident;
        let method = name.to_string();
        let args: Vec<_> = (0..m.types.len()).map(|i| format_ident!("arg{}", i)).collect();
        let types = &m.types;
        let call = if m.fallible {
            quote!(call_result)
        } else {
            quote!(call)
        };
        quote! {
            #method => #p::managed::#call(args, out, |(#(#args,)*): (#(#types,)*)| this.#name(#(#args),*)),
        }
    });
    quote! {
        const _: () = {
            #p::inventory::submit! {
                #p::ManagedEntry {
                    name: <#ty as #krate::Managed>::NAME,
                    create: #p::managed::create::<#ty>,
                    dispatch: |value, method, args, out| {
                        let this = #p::managed::downcast::<#ty>(value)?;
                        match method {
                            #(#arms)*
                            _ => ::core::result::Result::Err(
                                #p::managed::unknown_method(<#ty as #krate::Managed>::NAME, method),
                            ),
                        }
                    },
                }
            }
        };
    }
}
