//! Enveloped XML signatures (XML-DSig) as SAML identity providers make
//! them: a small element tree read with quick-xml, Exclusive XML
//! Canonicalization 1.0 (without comments), SHA-1/SHA-256/SHA-512 digests
//! and RSA or ECDSA signatures checked with aws-lc-rs against certificates the
//! caller supplies (never the `KeyInfo` the document carries). Pure.
//!
//! Written here: the Rust crates that verify XML signatures bind libxml2
//! and xmlsec (C libraries with their own parsers). This one accepts only
//! what SAML needs — one reference, by ID, to the element that encloses
//! the signature — and refuses the rest (DTDs, processing instructions,
//! other transforms), which also closes the signature-wrapping tricks
//! that depend on them.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use quick_xml::events::{BytesStart, Event};

pub(crate) const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
/// Deeper documents are refused (SAML responses are about 8 deep).
const MAX_DEPTH: usize = 64;
const MAX_ELEMENTS: usize = 10_000;

/// Why a document or its signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DsigError {
    #[error("the document is not well-formed XML Rampart accepts: {0}")]
    Malformed(&'static str),
    #[error("the signature is not one Rampart verifies: {0}")]
    Unsupported(String),
    #[error("the signed content's digest does not match")]
    Digest,
    #[error("the signature does not verify with the provider's certificates")]
    Signature,
}

/// An element: its name as written, its namespace declarations and
/// attributes (values unescaped), and its children.
#[derive(Debug, Clone)]
pub(crate) struct Element {
    pub prefix: String,
    pub local: String,
    /// `(prefix, uri)`, the default namespace with prefix "".
    namespaces: Vec<(String, String)>,
    /// `(prefix, local, value)`.
    attributes: Vec<(String, String, String)>,
    pub children: Vec<Node>,
    parent: Option<usize>,
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Element(usize),
    Text(String),
}

/// A parsed document: elements in document order, the first the root.
#[derive(Debug)]
pub(crate) struct Document {
    elements: Vec<Element>,
}

fn split_name(name: &[u8]) -> Result<(String, String), DsigError> {
    let name = std::str::from_utf8(name).map_err(|_| DsigError::Malformed("a name is not UTF-8"))?;
    Ok(match name.split_once(':') {
        Some((prefix, local)) => (prefix.to_string(), local.to_string()),
        None => (String::new(), name.to_string()),
    })
}

/// XML's end-of-line handling: CR LF and lone CR become LF.
fn normalize_newlines(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

impl Document {
    pub fn parse(text: &str) -> Result<Document, DsigError> {
        let text = normalize_newlines(text);
        let mut reader = quick_xml::Reader::from_str(&text);
        let mut elements: Vec<Element> = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        let mut ended = false;
        loop {
            let event = reader.read_event().map_err(|_| DsigError::Malformed("unreadable XML"))?;
            match event {
                Event::Start(start) | Event::Empty(start) if ended => {
                    let _ = start;
                    return Err(DsigError::Malformed("more than one root element"));
                }
                Event::Start(start) => {
                    let index = Self::open_element(&mut elements, &open, &start)?;
                    open.push(index);
                    if open.len() > MAX_DEPTH {
                        return Err(DsigError::Malformed("too deep"));
                    }
                }
                Event::Empty(start) => {
                    Self::open_element(&mut elements, &open, &start)?;
                    ended = open.is_empty();
                }
                Event::End(_) => {
                    open.pop();
                    ended = open.is_empty();
                }
                Event::Text(text) => {
                    let text = text.unescape().map_err(|_| DsigError::Malformed("an unknown entity"))?;
                    match open.last().and_then(|i| elements.get_mut(*i)) {
                        Some(element) => element.children.push(Node::Text(text.into_owned())),
                        None if text.trim().is_empty() => {}
                        None => return Err(DsigError::Malformed("text outside the root element")),
                    }
                }
                Event::CData(data) => {
                    let text = std::str::from_utf8(&data).map_err(|_| DsigError::Malformed("text is not UTF-8"))?;
                    if let Some(element) = open.last().and_then(|i| elements.get_mut(*i)) {
                        element.children.push(Node::Text(text.to_string()));
                    }
                }
                Event::Comment(_) | Event::Decl(_) => {}
                Event::DocType(_) => return Err(DsigError::Malformed("a DTD")),
                Event::PI(_) => return Err(DsigError::Malformed("a processing instruction")),
                Event::Eof => break,
            }
            if elements.len() > MAX_ELEMENTS {
                return Err(DsigError::Malformed("too many elements"));
            }
        }
        if elements.is_empty() || !open.is_empty() {
            return Err(DsigError::Malformed("no complete root element"));
        }
        Ok(Document { elements })
    }

    fn open_element(elements: &mut Vec<Element>, open: &[usize], start: &BytesStart<'_>) -> Result<usize, DsigError> {
        let (prefix, local) = split_name(start.name().as_ref())?;
        let mut namespaces = Vec::new();
        let mut attributes = Vec::new();
        for attribute in start.attributes() {
            let attribute = attribute.map_err(|_| DsigError::Malformed("an unreadable attribute"))?;
            // Attribute-value normalization: literal whitespace becomes a
            // space; character references keep what they name.
            let raw = std::str::from_utf8(&attribute.value).map_err(|_| DsigError::Malformed("not UTF-8"))?;
            let raw = raw.replace(['\t', '\n'], " ");
            let value =
                quick_xml::escape::unescape(&raw).map_err(|_| DsigError::Malformed("an unknown entity"))?.into_owned();
            let (a_prefix, a_local) = split_name(attribute.key.as_ref())?;
            match (a_prefix.as_str(), a_local.as_str()) {
                ("", "xmlns") => namespaces.push((String::new(), value)),
                ("xmlns", declared) => namespaces.push((declared.to_string(), value)),
                _ => attributes.push((a_prefix, a_local, value)),
            }
        }
        let parent = open.last().copied();
        let index = elements.len();
        elements.push(Element { prefix, local, namespaces, attributes, children: Vec::new(), parent });
        if let Some(parent) = parent.and_then(|p| elements.get_mut(p)) {
            parent.children.push(Node::Element(index));
        }
        Ok(index)
    }

    pub fn root(&self) -> usize {
        0
    }

    /// The namespace `prefix` names at `index` ("" for the default one).
    pub fn namespace_of(&self, index: usize, prefix: &str) -> Option<&str> {
        if prefix == "xml" {
            return Some(XML_NS);
        }
        let mut at = Some(index);
        while let Some(element) = at.and_then(|i| self.elements.get(i)) {
            if let Some((_, uri)) = element.namespaces.iter().find(|(p, _)| p == prefix) {
                return (!uri.is_empty()).then_some(uri.as_str());
            }
            at = element.parent;
        }
        None
    }

    /// Whether the element is `local` in namespace `namespace`.
    pub fn is(&self, index: usize, namespace: &str, local: &str) -> bool {
        self.elements
            .get(index)
            .is_some_and(|e| e.local == local && self.namespace_of(index, &e.prefix) == Some(namespace))
    }

    /// The element's child elements named `local` in `namespace`.
    pub fn children_named<'d>(
        &'d self,
        index: usize,
        namespace: &'d str,
        local: &'d str,
    ) -> impl Iterator<Item = usize> + 'd {
        self.child_elements(index).filter(move |c| self.is(*c, namespace, local))
    }

    pub fn child_elements(&self, index: usize) -> impl Iterator<Item = usize> + '_ {
        self.elements.get(index).into_iter().flat_map(|e| &e.children).filter_map(|n| match n {
            Node::Element(i) => Some(*i),
            Node::Text(_) => None,
        })
    }

    /// The one child named so, if there is exactly one.
    pub fn only_child(&self, index: usize, namespace: &str, local: &str) -> Option<usize> {
        let mut found = self.children_named(index, namespace, local);
        let first = found.next()?;
        found.next().is_none().then_some(first)
    }

    /// An unprefixed attribute's value.
    pub fn attribute(&self, index: usize, local: &str) -> Option<&str> {
        let element = self.elements.get(index)?;
        element.attributes.iter().find(|(p, l, _)| p.is_empty() && l == local).map(|(_, _, v)| v.as_str())
    }

    /// The element's text content (its text children, concatenated).
    pub fn text(&self, index: usize) -> String {
        let mut text = String::new();
        for node in self.elements.get(index).map(|e| e.children.as_slice()).unwrap_or_default() {
            if let Node::Text(t) = node {
                text.push_str(t);
            }
        }
        text
    }

    /// The elements whose `ID` (SAML's identifier attribute) is `id`.
    fn by_id(&self, id: &str) -> Vec<usize> {
        (0..self.elements.len()).filter(|i| self.attribute(*i, "ID") == Some(id)).collect()
    }

    /// The element's subtree in Exclusive XML Canonicalization 1.0 without
    /// comments, leaving out the subtree of `excluded` (the enveloped
    /// signature). `inclusive` is the InclusiveNamespaces PrefixList.
    pub fn exclusive_c14n(&self, index: usize, excluded: Option<usize>, inclusive: &[String]) -> String {
        let mut out = String::new();
        self.c14n_element(index, excluded, inclusive, &[], &mut out);
        out
    }

    fn c14n_element(
        &self,
        index: usize,
        excluded: Option<usize>,
        inclusive: &[String],
        rendered: &[(String, String)],
        out: &mut String,
    ) {
        let Some(element) = self.elements.get(index) else { return };
        // Namespaces visibly utilized here: the element's prefix and its
        // attributes' prefixes (never "" for an attribute), and the
        // inclusive prefixes in scope.
        let mut utilized: Vec<&str> = vec![element.prefix.as_str()];
        for (prefix, _, _) in &element.attributes {
            if !prefix.is_empty() && prefix != "xml" && !utilized.contains(&prefix.as_str()) {
                utilized.push(prefix);
            }
        }
        for prefix in inclusive {
            let prefix = if prefix == "#default" { "" } else { prefix.as_str() };
            if !utilized.contains(&prefix) && self.namespace_of(index, prefix).is_some() {
                utilized.push(prefix);
            }
        }
        let mut declarations: Vec<(String, String)> = Vec::new();
        for prefix in utilized {
            if prefix == "xml" {
                continue;
            }
            let uri = self.namespace_of(index, prefix).unwrap_or_default();
            let current = rendered.iter().rev().find(|(p, _)| p == prefix).map(|(_, u)| u.as_str());
            let needed = match current {
                Some(current) => current != uri,
                // An empty default namespace is only declared to undo one.
                None => !uri.is_empty(),
            };
            if needed {
                declarations.push((prefix.to_string(), uri.to_string()));
            }
        }
        declarations.sort();
        let mut attributes: Vec<(&str, &str, &str, &str)> = element
            .attributes
            .iter()
            .map(|(prefix, local, value)| {
                let uri = if prefix.is_empty() { "" } else { self.namespace_of(index, prefix).unwrap_or_default() };
                (uri, local.as_str(), prefix.as_str(), value.as_str())
            })
            .collect();
        attributes.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let qname = if element.prefix.is_empty() {
            element.local.clone()
        } else {
            format!("{}:{}", element.prefix, element.local)
        };
        out.push('<');
        out.push_str(&qname);
        for (prefix, uri) in &declarations {
            if prefix.is_empty() {
                out.push_str(" xmlns=\"");
            } else {
                out.push_str(" xmlns:");
                out.push_str(prefix);
                out.push_str("=\"");
            }
            escape_attribute(uri, out);
            out.push('"');
        }
        for (_, local, prefix, value) in attributes {
            out.push(' ');
            if !prefix.is_empty() {
                out.push_str(prefix);
                out.push(':');
            }
            out.push_str(local);
            out.push_str("=\"");
            escape_attribute(value, out);
            out.push('"');
        }
        out.push('>');
        let mut context = rendered.to_vec();
        context.extend(declarations);
        for child in &element.children {
            match child {
                Node::Text(text) => escape_text(text, out),
                Node::Element(child) if Some(*child) == excluded => {}
                Node::Element(child) => self.c14n_element(*child, excluded, inclusive, &context, out),
            }
        }
        out.push_str("</");
        out.push_str(&qname);
        out.push('>');
    }

    /// Verifies the enveloped signature `signature` (a `ds:Signature`
    /// element) with one of `certificates` (DER): it must have one
    /// reference, to the element that encloses it by that element's
    /// unique `ID`. Returns that element, the one the signature covers.
    pub fn verify_enveloped(&self, signature: usize, certificates: &[Vec<u8>]) -> Result<usize, DsigError> {
        let unsupported = |what: &str| DsigError::Unsupported(what.to_string());
        let signed_info = self.only_child(signature, DSIG, "SignedInfo").ok_or_else(|| unsupported("no SignedInfo"))?;
        let value =
            self.only_child(signature, DSIG, "SignatureValue").ok_or_else(|| unsupported("no SignatureValue"))?;
        let algorithm_of = |parent: usize, local: &str| {
            self.only_child(parent, DSIG, local).and_then(|m| self.attribute(m, "Algorithm")).unwrap_or_default()
        };
        let c14n_method = self.only_child(signed_info, DSIG, "CanonicalizationMethod");
        if c14n_method.and_then(|m| self.attribute(m, "Algorithm")) != Some(EXC_C14N) {
            return Err(unsupported("canonicalization other than exclusive XML canonicalization"));
        }
        let signed_info_prefixes = c14n_method.map(|m| self.inclusive_prefixes(m)).unwrap_or_default();
        let method = signature_method(algorithm_of(signed_info, "SignatureMethod"))?;
        let reference =
            self.only_child(signed_info, DSIG, "Reference").ok_or_else(|| unsupported("not one Reference"))?;
        let id = self
            .attribute(reference, "URI")
            .and_then(|uri| uri.strip_prefix('#'))
            .filter(|id| !id.is_empty())
            .ok_or_else(|| unsupported("a reference that is not to an ID"))?;
        let holders = self.by_id(id);
        let [target] = holders.as_slice() else {
            return Err(unsupported("a reference to an ID not held by exactly one element"));
        };
        let target = *target;
        if self.elements.get(signature).and_then(|s| s.parent) != Some(target) {
            return Err(unsupported("a signature not enveloped by the element it signs"));
        }
        let mut prefixes = Vec::new();
        let mut enveloped = false;
        if let Some(transforms) = self.only_child(reference, DSIG, "Transforms") {
            for transform in self.child_elements(transforms) {
                match self.attribute(transform, "Algorithm") {
                    Some(ENVELOPED) if self.is(transform, DSIG, "Transform") => enveloped = true,
                    Some(EXC_C14N) if self.is(transform, DSIG, "Transform") => {
                        prefixes = self.inclusive_prefixes(transform);
                    }
                    _ => return Err(unsupported("a transform other than enveloped-signature and exclusive c14n")),
                }
            }
        }
        if !enveloped {
            return Err(unsupported("a reference without the enveloped-signature transform"));
        }
        let digest_algorithm = digest_method(algorithm_of(reference, "DigestMethod"))?;
        let digest_value = self.only_child(reference, DSIG, "DigestValue").map(|d| self.text(d)).unwrap_or_default();
        let expected = decode_base64(&digest_value).ok_or(DsigError::Digest)?;
        let canonical = self.exclusive_c14n(target, Some(signature), &prefixes);
        if aws_lc_rs::digest::digest(digest_algorithm, canonical.as_bytes()).as_ref() != expected.as_slice() {
            return Err(DsigError::Digest);
        }
        let signature_bytes = decode_base64(&self.text(value)).ok_or(DsigError::Signature)?;
        let signed = self.exclusive_c14n(signed_info, None, &signed_info_prefixes);
        let verified = certificates.iter().any(|certificate| {
            public_key_of(certificate, &method).is_some_and(|(algorithm, key)| {
                UnparsedPublicKey::new(algorithm, key).verify(signed.as_bytes(), &signature_bytes).is_ok()
            })
        });
        if verified {
            Ok(target)
        } else {
            Err(DsigError::Signature)
        }
    }

    fn inclusive_prefixes(&self, transform: usize) -> Vec<String> {
        self.children_named(transform, EXC_C14N, "InclusiveNamespaces")
            .filter_map(|i| self.attribute(i, "PrefixList"))
            .flat_map(|list| list.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect()
    }
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(compact).ok()
}

fn escape_text(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

fn escape_attribute(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

/// The signature algorithms of XML-DSig and RFC 6931 that are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignatureMethod {
    RsaSha1,
    RsaSha256,
    RsaSha512,
    EcdsaSha256,
    EcdsaSha384,
}

fn signature_method(uri: &str) -> Result<SignatureMethod, DsigError> {
    Ok(match uri {
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1" => SignatureMethod::RsaSha1,
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => SignatureMethod::RsaSha256,
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => SignatureMethod::RsaSha512,
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => SignatureMethod::EcdsaSha256,
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384" => SignatureMethod::EcdsaSha384,
        other => return Err(DsigError::Unsupported(format!("the signature method {other}"))),
    })
}

fn digest_method(uri: &str) -> Result<&'static aws_lc_rs::digest::Algorithm, DsigError> {
    Ok(match uri {
        "http://www.w3.org/2000/09/xmldsig#sha1" => &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        "http://www.w3.org/2001/04/xmlenc#sha256" => &aws_lc_rs::digest::SHA256,
        "http://www.w3.org/2001/04/xmlenc#sha512" => &aws_lc_rs::digest::SHA512,
        other => return Err(DsigError::Unsupported(format!("the digest method {other}"))),
    })
}

/// The certificate's public key, for `method`: the algorithm and the key
/// bytes aws-lc-rs reads (RSAPublicKey DER, or the uncompressed EC point).
fn public_key_of(
    certificate: &[u8],
    method: &SignatureMethod,
) -> Option<(&'static dyn VerificationAlgorithm, Vec<u8>)> {
    use x509_cert::der::Decode;
    let certificate = x509_cert::Certificate::from_der(certificate).ok()?;
    let spki = certificate.tbs_certificate.subject_public_key_info;
    let key = spki.subject_public_key.as_bytes()?.to_vec();
    const RSA: &str = "1.2.840.113549.1.1.1";
    const EC: &str = "1.2.840.10045.2.1";
    let algorithm_oid = spki.algorithm.oid.to_string();
    let algorithm: &'static dyn VerificationAlgorithm = match (method, algorithm_oid.as_str()) {
        (SignatureMethod::RsaSha1, RSA) => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        (SignatureMethod::RsaSha256, RSA) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (SignatureMethod::RsaSha512, RSA) => &signature::RSA_PKCS1_2048_8192_SHA512,
        // XML-DSig's ECDSA signatures are r || s (RFC 4050), not DER.
        (SignatureMethod::EcdsaSha256, EC) => &signature::ECDSA_P256_SHA256_FIXED,
        (SignatureMethod::EcdsaSha384, EC) => &signature::ECDSA_P384_SHA384_FIXED,
        _ => return None,
    };
    Some((algorithm, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c14n(xml: &str) -> String {
        let doc = Document::parse(xml).unwrap_or_else(|e| unreachable!("{e}"));
        doc.exclusive_c14n(doc.root(), None, &[])
    }

    /// Exclusive canonicalization's rules (W3C's exc-c14n §3 and c14n
    /// §3.1–3.3 examples): empty elements expanded, attributes sorted by
    /// namespace then name, only visibly utilized namespaces rendered,
    /// comments and the declaration dropped, escaping of text and values.
    #[test]
    fn canonicalizes_as_exclusive_c14n_specifies() {
        let cases = [
            ("<?xml version=\"1.0\"?>\n<doc/>", "<doc></doc>"),
            ("<doc><!-- a comment --><e1   /></doc>", "<doc><e1></e1></doc>"),
            (
                r#"<e5 a:attr="out" b:attr="sorted" attr2="all" attr="I'm" xmlns:b="http://www.ietf.org" xmlns:a="http://www.w3.org" xmlns="http://example.org"/>"#,
                r#"<e5 xmlns="http://example.org" xmlns:a="http://www.w3.org" xmlns:b="http://www.ietf.org" attr="I'm" attr2="all" b:attr="sorted" a:attr="out"></e5>"#,
            ),
            // Unused declarations vanish; a prefix is declared where first used.
            (
                r#"<n0:a xmlns:n0="urn:0" xmlns:n1="urn:1"><n1:b/><n0:c/></n0:a>"#,
                r#"<n0:a xmlns:n0="urn:0"><n1:b xmlns:n1="urn:1"></n1:b><n0:c></n0:c></n0:a>"#,
            ),
            (r#"<doc>&lt;&amp;&gt;"'</doc>"#, r#"<doc>&lt;&amp;&gt;"'</doc>"#),
            ("<doc a=\"&quot;&lt;&#9;&#10;\tx\"/>", "<doc a=\"&quot;&lt;&#x9;&#xA; x\"></doc>"),
            ("<doc>\r\nline</doc>", "<doc>\nline</doc>"),
            ("<doc><![CDATA[<x>&]]></doc>", "<doc>&lt;x&gt;&amp;</doc>"),
            // A default namespace undone below is rendered as xmlns="".
            (r#"<a xmlns="urn:a"><b xmlns=""/></a>"#, r#"<a xmlns="urn:a"><b xmlns=""></b></a>"#),
            (r#"<a><b xmlns=""/></a>"#, "<a><b></b></a>"),
        ];
        for (input, want) in cases {
            assert_eq!(c14n(input), want, "{input}");
        }
    }

    #[test]
    fn a_subtree_takes_its_namespaces_from_its_ancestors() {
        let doc = Document::parse(
            r#"<p:Response xmlns:p="urn:p" xmlns:s="urn:s"><s:Assertion ID="a1"><s:Issuer>x</s:Issuer></s:Assertion></p:Response>"#,
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        let assertion = doc.child_elements(doc.root()).next().unwrap_or_default();
        assert_eq!(
            doc.exclusive_c14n(assertion, None, &[]),
            r#"<s:Assertion xmlns:s="urn:s" ID="a1"><s:Issuer>x</s:Issuer></s:Assertion>"#
        );
        assert_eq!(
            doc.exclusive_c14n(assertion, None, &["p".to_string()]),
            r#"<s:Assertion xmlns:p="urn:p" xmlns:s="urn:s" ID="a1"><s:Issuer>x</s:Issuer></s:Assertion>"#
        );
    }

    /// A response whose assertion signxml signed (lxml and libxml2's
    /// canonicalizer, `scripts/saml-test-vectors.py`): the assertion's
    /// `xsi:type="xs:string"` names a prefix only in a value, which
    /// exclusive canonicalization leaves undeclared in both.
    const SIGNED_RESPONSE: &str = include_str!("../tests/data/signed-response.xml");
    const IDP_CERTIFICATE: &[u8] = include_bytes!("../tests/data/idp-certificate.der");

    fn signature_of(doc: &Document) -> (usize, usize) {
        let assertion = doc.child_elements(doc.root()).nth(1).unwrap_or_default();
        let signature = doc.children_named(assertion, DSIG, "Signature").next().unwrap_or_default();
        (assertion, signature)
    }

    #[test]
    fn verifies_a_signature_another_implementation_made() {
        let doc = Document::parse(SIGNED_RESPONSE).unwrap_or_else(|e| unreachable!("{e}"));
        let (assertion, signature) = signature_of(&doc);
        assert!(doc.is(assertion, "urn:oasis:names:tc:SAML:2.0:assertion", "Assertion"));
        assert_eq!(doc.verify_enveloped(signature, &[IDP_CERTIFICATE.to_vec()]), Ok(assertion));
        // Without the certificate, or with the document's text changed.
        assert_eq!(doc.verify_enveloped(signature, &[]), Err(DsigError::Signature));
        for (from, to) in [("alice &amp; co", "alice &amp; c0"), ("ID=\"_vector1\"", "ID=\"_vector2\"")] {
            let altered = SIGNED_RESPONSE.replacen(from, to, 1);
            assert_ne!(altered, SIGNED_RESPONSE);
            let doc = Document::parse(&altered).unwrap_or_else(|e| unreachable!("{e}"));
            let (_, signature) = signature_of(&doc);
            assert!(doc.verify_enveloped(signature, &[IDP_CERTIFICATE.to_vec()]).is_err(), "{to}");
        }
        // Whitespace outside the signed element does not matter.
        let spaced = SIGNED_RESPONSE.replacen("<samlp:Status>", "\n  <samlp:Status>", 1);
        let doc = Document::parse(&spaced).unwrap_or_else(|e| unreachable!("{e}"));
        let (assertion, signature) = signature_of(&doc);
        assert_eq!(doc.verify_enveloped(signature, &[IDP_CERTIFICATE.to_vec()]), Ok(assertion));
    }

    #[test]
    fn refuses_what_it_does_not_read() {
        for xml in [
            "",
            "<a>",
            "<a></b>",
            "<a/><b/>",
            "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
            "<a>&unknown;</a>",
            "<a><?pi x?></a>",
            "text<a/>",
        ] {
            assert!(Document::parse(xml).is_err(), "{xml}");
        }
        let deep = format!("{}{}", "<a>".repeat(MAX_DEPTH + 1), "</a>".repeat(MAX_DEPTH + 1));
        assert!(Document::parse(&deep).is_err());
    }
}
