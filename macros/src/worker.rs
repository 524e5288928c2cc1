//! `#[multiproc::worker]`: validate the function, then emit its body as a hidden `fn`, and under its name
//! a zero-sized handle that calls like it (`Deref` to a `fn` pointer), implements `WorkerFn` (so only
//! workers reach `spawn`/`Pool`: a closure is a compile error), has `name::spawn`, and is registered.
//! Each argument and the result get a check spanned at their type: one error there if it cannot travel.

use crate::check::{Errors, check_type, crate_path};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, ReturnType, Type, parse2};

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
            FnArg::Typed(pt) => check_type(&pt.ty, "worker", errors),
        }
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        check_type(ty, "worker", errors);
    }
}

/// serde implements `Serialize` for tuples of up to 16 elements: the arguments travel as one tuple.
const MAX_ARGS: usize = 16;

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let krate = crate_path(attr, "worker", &mut errors);
    let func: ItemFn = match parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Fn(f)) => f,
        Ok(other) => {
            errors.push(
                other.span(),
                "#[multiproc::worker] goes on a free function: `fn name(args..) -> R { .. }`",
            );
            return errors.finish(item);
        }
        Err(e) => {
            errors.push_error(e);
            return errors.finish(item);
        }
    };
    let mut sig_errors = Errors::default();
    validate(&func, &mut sig_errors);
    if func.sig.inputs.len() > MAX_ARGS {
        sig_errors.push(
            func.sig.inputs.span(),
            format!(
                "#[multiproc::worker] functions take at most {MAX_ARGS} arguments (they travel as one \
                 tuple): group them in a struct"
            ),
        );
    }
    if let Some(e) = sig_errors.0 {
        errors.push_error(e);
        return errors.finish(fallback(&func, &krate));
    }
    errors.finish(generate(&func, &krate))
}

fn cfg_attrs(func: &ItemFn) -> Vec<&syn::Attribute> {
    func.attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg") || a.path().is_ident("cfg_attr"))
        .collect()
}

/// What goes with a compile error in the signature: the function unchanged, and a `name::spawn` that
/// never runs, so that the crate's calls to them add no errors of their own.
fn fallback(func: &ItemFn, krate: &syn::Path) -> TokenStream {
    let ident = &func.sig.ident;
    let vis = &func.vis;
    let cfgs = cfg_attrs(func);
    let impl_trait_output =
        matches!(&func.sig.output, ReturnType::Type(_, ty) if matches!(**ty, Type::ImplTrait(_)));
    if impl_trait_output
        || func
            .sig
            .inputs
            .iter()
            .any(|a| matches!(a, FnArg::Receiver(_)))
    {
        return quote!(#func);
    }
    let (generics, where_clause) = (&func.sig.generics, &func.sig.generics.where_clause);
    let inputs = func.sig.inputs.iter().enumerate().map(|(i, a)| {
        let FnArg::Typed(pt) = a else {
            unreachable!("receivers returned above")
        };
        let ty = &pt.ty;
        let arg = format_ident!("arg{}", i);
        quote!(#arg: #ty)
    });
    let output = match &func.sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    };
    quote! {
        #func

        #(#cfgs)*
        #[allow(non_snake_case, unused_imports, unused_variables, dead_code)]
        #vis mod #ident {
            use super::*;

            pub fn spawn #generics (#(#inputs),*) -> #krate::Result<#krate::Process<#output>> #where_clause {
                ::core::unreachable!("#[multiproc::worker] reported a compile error")
            }
        }
    }
}

fn generate(func: &ItemFn, krate: &syn::Path) -> TokenStream {
    let ident = &func.sig.ident;
    let vis = &func.vis;
    let name = ident.to_string();
    let hidden = format_ident!("__multiproc_worker_{}", ident);
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
    let cfgs = cfg_attrs(func);
    let docs: Vec<&syn::Attribute> = func
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .collect();
    let mut body_fn = func.clone();
    body_fn.attrs.retain(|a| !a.path().is_ident("doc"));
    body_fn.sig.ident = hidden.clone();
    body_fn.vis = syn::Visibility::Inherited;
    let abi = &func.sig.abi;
    let unsafety = &func.sig.unsafety;
    let fn_ptr = quote!(#unsafety #abi fn(#(#types),*) -> #output);
    let tuple = quote!((#(#types,)*));
    let item_doc = format!(
        "\n\nA `#[multiproc::worker]`: call it like the function (`{name}(..)`; `*{name}` is a plain `fn` \
         pointer), start it in a child process with [`{name}::spawn`]({name}::spawn), or hand `{name}` to a \
         `Pool`."
    );
    let spawn_doc = format!(
        "Starts `{name}(..)` in a new child process; `join()` the returned process for its result. \
         Python: `Process(target={name}, args=(..)).start()`."
    );
    let map_fn = (types.len() == 1).then(|| {
        let ty = types[0];
        quote! {
            #(#cfgs)*
            #[automatically_derived]
            impl #krate::MapFn<#ty> for #ident {
                type Output = #output;
                const ENTRY: &'static str = <#ident as #krate::WorkerFn<#tuple>>::ENTRY;
            }
        }
    });
    let checks = types
        .iter()
        .map(
            |ty| quote_spanned!(ty.span()=> (&&#krate::__private::Check::<#ty>::new()).argument();),
        )
        .chain(match &func.sig.output {
            ReturnType::Type(_, ty) => Some(
                quote_spanned!(ty.span()=> (&&#krate::__private::Check::<#ty>::new()).result();),
            ),
            ReturnType::Default => None,
        });
    let closure = quote!(|(#(#args,)*): #tuple| #hidden(#(#args),*));
    quote! {
        #(#cfgs)*
        #body_fn

        #(#cfgs)*
        #(#docs)*
        #[doc = #item_doc]
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug)]
        #vis struct #ident;

        #(#cfgs)*
        #[automatically_derived]
        impl ::core::ops::Deref for #ident {
            type Target = #fn_ptr;
            fn deref(&self) -> &Self::Target {
                const F: #fn_ptr = #hidden;
                &F
            }
        }

        #(#cfgs)*
        #[automatically_derived]
        impl #krate::WorkerFn<#tuple> for #ident {
            type Output = #output;
            const ENTRY: &'static str = ::core::concat!(::core::module_path!(), "::", #name);
        }

        #map_fn

        #(#cfgs)*
        #[allow(dead_code)]
        impl #ident {
            #[doc = #spawn_doc]
            #vis fn spawn(#(#args: #types),*) -> #krate::Result<#krate::Process<#output>> {
                use #krate::__private::{Unserializable as _, ViaSerde as _};
                (&&#krate::__private::Travel::<#tuple, #output>::new()).spawn(#ident, (#(#args,)*))
            }
        }

        #(#cfgs)*
        const _: () = {
            use #krate::__private::{Stays as _, Travels as _, Unserializable as _, ViaSerde as _};

            const _: fn() = || {
                #(#checks)*
            };

            #krate::__private::inventory::submit! {
                #krate::__private::WorkerEntry {
                    name: <#ident as #krate::WorkerFn<#tuple>>::ENTRY,
                    type_name: || ::core::any::type_name::<#ident>(),
                    invoke: |bytes, fds| {
                        (&&#krate::__private::Travel::<#tuple, #output>::new()).invoke(bytes, fds, #closure)
                    },
                    invoke_batch: ::core::option::Option::Some(|bytes, fds, out, out_fds| {
                        (&&#krate::__private::Travel::<#tuple, #output>::new())
                            .invoke_batch(bytes, fds, out, out_fds, #closure)
                    }),
                }
            }
        };
    }
}
