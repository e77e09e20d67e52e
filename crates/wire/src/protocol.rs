//! Protocol detection, request decoding and response encoding for every protocol.

use serde_json::{Map, Value};

use crate::cbor;
use crate::json;
use crate::model::{Operation, ServiceId, ServiceModel};
use crate::query::{key_depth, Dialect, ParamNode, QueryDecoder, MAX_PARAMETERS};
use crate::xml::{element, escape, XmlWriter};
use crate::AwsError;

/// The wire protocol of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `awsquery`: IAM, STS, CloudWatch.
    Query,
    /// EC2's dialect of the query protocol.
    Ec2,
    /// `awsJson1_0` / `awsJson1_1`.
    Json,
    /// `smithy-rpc-v2-cbor`.
    Cbor,
}

/// The parts of an HTTP request the wire layer reads.
#[derive(Debug, Clone, Copy)]
pub struct WireRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub content_type: Option<&'a str>,
    /// `X-Amz-Target`.
    pub target: Option<&'a str>,
    /// `smithy-protocol`.
    pub smithy_protocol: Option<&'a str>,
    pub body: &'a [u8],
}

/// A request read against its model: the operation and its input tree.
#[derive(Debug)]
pub struct Decoded {
    pub operation: &'static Operation,
    pub input: Value,
}

/// An HTTP response ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// Which of the service's protocols the client chose, from its headers.
pub fn detect_protocol(service: ServiceId, request: &WireRequest<'_>) -> Protocol {
    let model = service.model();
    if request.smithy_protocol == Some("rpc-v2-cbor") && model.supports("smithy-rpc-v2-cbor") {
        return Protocol::Cbor;
    }
    if request.target.is_some() && model.supports("json") {
        return Protocol::Json;
    }
    if model.supports("ec2") {
        Protocol::Ec2
    } else if model.supports("query") {
        Protocol::Query
    } else if model.supports("json") {
        Protocol::Json
    } else {
        Protocol::Cbor
    }
}

fn percent_decode_form(input: &str) -> Result<String, AwsError> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) else {
                    return Err(AwsError::new(
                        "MalformedQueryString",
                        404,
                        "The query string contains a syntax error.",
                    ));
                };
                out.push(v);
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| {
        AwsError::new("InvalidQueryParameter", 400, "The query string contains a parameter that is not valid UTF-8.")
    })
}

/// `application/x-www-form-urlencoded` pairs; auth parameters of presigned URLs
/// are skipped. More than `MAX_PARAMETERS` in all is refused before they are
/// decoded: a request's cost must not grow with what it is allowed to send.
fn form_pairs(text: &str, out: &mut Vec<(String, String)>) -> Result<(), AwsError> {
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        if out.len() >= MAX_PARAMETERS {
            return Err(AwsError::new(
                "InvalidQueryParameter",
                400,
                format!("The request has more than {MAX_PARAMETERS} parameters."),
            ));
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode_form(k)?;
        if k.starts_with("X-Amz-") {
            continue;
        }
        out.push((k, percent_decode_form(v)?));
    }
    Ok(())
}

/// The value of the first `name=` pair of a form, decoded; looks at no more
/// than `MAX_PARAMETERS` pairs.
fn form_value(text: &str, name: &str) -> Option<String> {
    text.split('&')
        .take(MAX_PARAMETERS)
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| percent_decode_form(v).ok())
}

/// The operation a request names, read without decoding its input: for the
/// record of a request that is refused before it is decoded (authentication
/// comes first). Only names of the model's operations are returned, so a
/// record never carries a caller-chosen event name.
pub fn operation_name(service: ServiceId, protocol: Protocol, request: &WireRequest<'_>) -> Option<&'static str> {
    let model = service.model();
    let name = match protocol {
        Protocol::Query | Protocol::Ec2 => form_value(request.query, "Action").or_else(|| {
            let form = request.method == "POST" && is_form(request.content_type);
            form.then(|| std::str::from_utf8(request.body).ok()).flatten().and_then(|b| form_value(b, "Action"))
        })?,
        Protocol::Json => request.target?.rsplit_once('.')?.1.to_string(),
        Protocol::Cbor => request.path.rsplit_once("/operation/")?.1.to_string(),
    };
    model.operation(&name).map(|op| op.name.as_str())
}

fn is_form(content_type: Option<&str>) -> bool {
    content_type.is_none_or(|ct| {
        ct.split(';').next().unwrap_or_default().trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}

/// Reads the operation and its input from a request.
pub fn decode(service: ServiceId, protocol: Protocol, request: &WireRequest<'_>) -> Result<Decoded, AwsError> {
    let model = service.model();
    match protocol {
        Protocol::Query | Protocol::Ec2 => decode_query(model, protocol, request),
        Protocol::Json => {
            let unknown = || AwsError::new("UnknownOperationException", 400, "");
            let target = request.target.ok_or_else(unknown)?;
            let (prefix, name) = target.rsplit_once('.').ok_or_else(unknown)?;
            if Some(prefix) != model.metadata.target_prefix.as_deref() {
                return Err(unknown());
            }
            let json_content = request
                .content_type
                .is_none_or(|ct| ct.starts_with("application/x-amz-json") || ct.starts_with("application/json"));
            if !json_content {
                return Err(unknown());
            }
            let operation = model.operation(name).ok_or_else(unknown)?;
            let body = if request.body.iter().all(u8::is_ascii_whitespace) {
                Value::Object(Map::new())
            } else {
                serde_json::from_slice(request.body)
                    .map_err(|e| AwsError::serialization(format!("The request body is not valid JSON: {e}")))?
            };
            read_input(model, operation, body)
        }
        Protocol::Cbor => {
            let unknown = || AwsError::new("UnknownOperationException", 404, "");
            let mut parts = request.path.trim_start_matches('/').split('/');
            let (Some("service"), Some(_), Some("operation"), Some(name), None) =
                (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(unknown());
            };
            let operation = model.operation(name).ok_or_else(unknown)?;
            read_input(model, operation, cbor::parse(request.body)?)
        }
    }
}

fn read_input(model: &'static ServiceModel, operation: &'static Operation, body: Value) -> Result<Decoded, AwsError> {
    let input = match operation.input.as_ref().and_then(|r| model.shape(&r.shape)) {
        Some(shape) => match json::decode_value(model, shape, body, "")? {
            Value::Null => Value::Object(Map::new()),
            v => v,
        },
        None => Value::Object(Map::new()),
    };
    Ok(Decoded { operation, input })
}

fn decode_query(
    model: &'static ServiceModel,
    protocol: Protocol,
    request: &WireRequest<'_>,
) -> Result<Decoded, AwsError> {
    let mut pairs = Vec::new();
    form_pairs(request.query, &mut pairs)?;
    if request.method == "POST" && is_form(request.content_type) {
        let body = std::str::from_utf8(request.body)
            .map_err(|_| AwsError::new("InvalidQueryParameter", 400, "The request body is not valid UTF-8."))?;
        form_pairs(body, &mut pairs)?;
    }
    let value_of = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let Some(action) = value_of("Action") else {
        return Err(AwsError::new("MissingAction", 400, "Missing Action"));
    };
    // EC2 accepts every API version it ever published; the other query services know one.
    let version = value_of("Version");
    let version_known = protocol == Protocol::Ec2 || version.is_none_or(|v| v == model.metadata.api_version);
    let Some(operation) = model.operation(action).filter(|_| version_known) else {
        let message = if protocol == Protocol::Ec2 {
            format!("The action {action} is not valid for this web service.")
        } else {
            let version = version.unwrap_or(&model.metadata.api_version);
            format!("Could not find operation {action} for version {version}")
        };
        return Err(AwsError::new("InvalidAction", 400, message));
    };
    let dialect = if protocol == Protocol::Ec2 { Dialect::Ec2 } else { Dialect::Query };
    let Some(shape) = operation.input.as_ref().and_then(|r| model.shape(&r.shape)) else {
        return Ok(Decoded { operation, input: Value::Object(Map::new()) });
    };
    // `Action` and `Version` are one part deep; nothing deeper than the input
    // shape allows is kept (a hostile request can send thousands of parts).
    let depth = *operation.query_depth.get_or_init(|| key_depth(model, shape, dialect).max(1));
    let params = ParamNode::build(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), depth)?;
    let input = QueryDecoder { model, dialect }.structure(shape, &params, "")?;
    Ok(Decoded { operation, input })
}

fn json_content_type(model: &ServiceModel) -> &'static str {
    match model.metadata.json_version.as_deref() {
        Some("1.0") => "application/x-amz-json-1.0",
        _ => "application/x-amz-json-1.1",
    }
}

fn ec2_namespace(model: &ServiceModel) -> String {
    let ns = model.metadata.xml_namespace.clone().unwrap_or_default();
    if ns.ends_with('/') {
        ns
    } else {
        format!("{ns}/")
    }
}

/// Encodes a handler's output for the client.
pub fn encode_output(
    service: ServiceId,
    protocol: Protocol,
    operation: &Operation,
    request_id: &str,
    output: &Value,
) -> EncodedResponse {
    let model = service.model();
    let shape = operation.output.as_ref().and_then(|r| model.shape(&r.shape));
    let mut headers = vec![("x-amzn-RequestId", request_id.to_string())];
    let (content_type, body) = match protocol {
        Protocol::Query => {
            let ns = model.metadata.xml_namespace.as_deref().unwrap_or_default();
            let name = &operation.name;
            let mut xml = format!("<{name}Response xmlns=\"");
            escape(&mut xml, ns);
            xml.push_str("\">");
            if let (Some(shape), Some(wrapper)) =
                (shape, operation.output.as_ref().and_then(|r| r.result_wrapper.as_deref()))
            {
                xml.push_str(&format!("<{wrapper}>"));
                XmlWriter { model, dialect: Dialect::Query }.members(&mut xml, shape, output);
                xml.push_str(&format!("</{wrapper}>"));
            }
            xml.push_str("<ResponseMetadata>");
            element(&mut xml, "RequestId", request_id);
            xml.push_str(&format!("</ResponseMetadata></{name}Response>"));
            ("text/xml", xml.into_bytes())
        }
        Protocol::Ec2 => {
            let name = &operation.name;
            let mut xml = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{name}Response xmlns=\"");
            escape(&mut xml, &ec2_namespace(model));
            xml.push_str("\">");
            element(&mut xml, "requestId", request_id);
            if let Some(shape) = shape {
                XmlWriter { model, dialect: Dialect::Ec2 }.members(&mut xml, shape, output);
            }
            xml.push_str(&format!("</{name}Response>"));
            ("text/xml;charset=UTF-8", xml.into_bytes())
        }
        Protocol::Json => {
            let body = match shape {
                Some(shape) => json::encode_value(model, shape, output),
                None => Value::Object(Map::new()),
            };
            (json_content_type(model), body.to_string().into_bytes())
        }
        Protocol::Cbor => {
            headers.push(("smithy-protocol", "rpc-v2-cbor".to_string()));
            let body = match shape {
                Some(shape) => cbor::from_json(model, shape, &json::encode_value(model, shape, output)),
                None => ciborium::value::Value::Map(Vec::new()),
            };
            ("application/cbor", cbor::to_bytes(&body))
        }
    };
    EncodedResponse { status: 200, content_type, headers, body }
}

/// Encodes an error the way the protocol's clients parse it.
pub fn encode_error(service: ServiceId, protocol: Protocol, request_id: &str, error: &AwsError) -> EncodedResponse {
    let model = service.model();
    let mut headers = vec![("x-amzn-RequestId", request_id.to_string())];
    let (content_type, body) = match protocol {
        Protocol::Query => {
            let ns = model.metadata.xml_namespace.as_deref().unwrap_or_default();
            let mut xml = String::from("<ErrorResponse xmlns=\"");
            escape(&mut xml, ns);
            xml.push_str("\"><Error>");
            element(&mut xml, "Type", if error.sender_fault { "Sender" } else { "Receiver" });
            element(&mut xml, "Code", &error.code);
            element(&mut xml, "Message", &error.message);
            xml.push_str("</Error>");
            element(&mut xml, "RequestId", request_id);
            xml.push_str("</ErrorResponse>");
            ("text/xml", xml.into_bytes())
        }
        Protocol::Ec2 => {
            let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>");
            element(&mut xml, "Code", &error.code);
            element(&mut xml, "Message", &error.message);
            xml.push_str("</Error></Errors>");
            element(&mut xml, "RequestID", request_id);
            xml.push_str("</Response>");
            ("text/xml;charset=UTF-8", xml.into_bytes())
        }
        Protocol::Json | Protocol::Cbor => {
            headers.push(("x-amzn-ErrorType", error.code.clone()));
            if model.metadata.aws_query_compatible.is_some() {
                let fault = if error.sender_fault { "Sender" } else { "Receiver" };
                headers.push(("x-amzn-query-error", format!("{};{fault}", error.code)));
            }
            let mut body = Map::new();
            body.insert("__type".to_string(), Value::String(error.code.clone()));
            if !error.message.is_empty() {
                body.insert("message".to_string(), Value::String(error.message.clone()));
            }
            if protocol == Protocol::Json {
                (json_content_type(model), Value::Object(body).to_string().into_bytes())
            } else {
                headers.push(("smithy-protocol", "rpc-v2-cbor".to_string()));
                ("application/cbor", cbor::to_bytes(&cbor::plain(&Value::Object(body))))
            }
        }
    };
    EncodedResponse { status: error.status, content_type, headers, body }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request<'a>(body: &'a [u8], target: Option<&'a str>) -> WireRequest<'a> {
        WireRequest {
            method: "POST",
            path: "/",
            query: "",
            content_type: Some(if target.is_some() {
                "application/x-amz-json-1.1"
            } else {
                "application/x-www-form-urlencoded; charset=utf-8"
            }),
            target,
            smithy_protocol: None,
            body,
        }
    }

    #[test]
    fn decodes_query_and_encodes_xml() {
        let req = request(b"Action=GetUser&Version=2010-05-08&UserName=bob%2B1", None);
        assert_eq!(detect_protocol(ServiceId::Iam, &req), Protocol::Query);
        let d = decode(ServiceId::Iam, Protocol::Query, &req).unwrap();
        assert_eq!(d.operation.name, "GetUser");
        assert_eq!(d.input, json!({"UserName": "bob+1"}));
        let out = json!({"User": {"UserName": "bob", "UserId": "AIDA", "Arn": "arn", "Path": "/", "CreateDate": 1440938160.0}});
        let r = encode_output(ServiceId::Iam, Protocol::Query, d.operation, "rid", &out);
        let xml = String::from_utf8(r.body).unwrap();
        assert_eq!(
            xml,
            "<GetUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><GetUserResult><User>\
             <Path>/</Path><UserName>bob</UserName><UserId>AIDA</UserId><Arn>arn</Arn>\
             <CreateDate>2015-08-30T12:36:00Z</CreateDate></User></GetUserResult>\
             <ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></GetUserResponse>"
        );
    }

    #[test]
    fn query_errors_name_the_operation() {
        let req = request(b"Action=Nope&Version=2010-05-08", None);
        let e = decode(ServiceId::Iam, Protocol::Query, &req).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("InvalidAction", "Could not find operation Nope for version 2010-05-08")
        );
        let e =
            decode(ServiceId::Iam, Protocol::Query, &request(b"Action=GetUser&Version=1999-01-01", None)).unwrap_err();
        assert_eq!(e.message, "Could not find operation GetUser for version 1999-01-01");
        let e = decode(ServiceId::Iam, Protocol::Query, &request(b"Version=2010-05-08", None)).unwrap_err();
        assert_eq!(e.code, "MissingAction");
        let e = decode(ServiceId::Iam, Protocol::Query, &request(b"Action=GetUser&UserName=%FF", None)).unwrap_err();
        assert_eq!(e.code, "InvalidQueryParameter");
        let r = encode_error(ServiceId::Iam, Protocol::Query, "rid", &e);
        assert!(String::from_utf8(r.body).unwrap().contains("<Code>InvalidQueryParameter</Code>"));
    }

    #[test]
    fn decodes_json_and_rejects_garbage() {
        let target = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents";
        let req = request(br#"{"MaxResults": 5, "StartTime": 1440938160}"#, Some(target));
        assert_eq!(detect_protocol(ServiceId::CloudTrail, &req), Protocol::Json);
        let d = decode(ServiceId::CloudTrail, Protocol::Json, &req).unwrap();
        assert_eq!(d.input, json!({"StartTime": 1440938160, "MaxResults": 5}));
        let bad = decode(ServiceId::CloudTrail, Protocol::Json, &request(b"{not json", Some(target))).unwrap_err();
        assert_eq!(bad.code, "SerializationException");
        let wrong_type =
            decode(ServiceId::CloudTrail, Protocol::Json, &request(br#"{"MaxResults": "5"}"#, Some(target)))
                .unwrap_err();
        assert_eq!(wrong_type.code, "SerializationException");
        let unknown = decode(ServiceId::CloudTrail, Protocol::Json, &request(b"{}", Some("Foo.Bar"))).unwrap_err();
        assert_eq!(unknown.code, "UnknownOperationException");
    }

    #[test]
    fn cbor_round_trip() {
        let body = cbor::to_bytes(&cbor::plain(&json!({"Namespace": "ns", "MetricName": "m"})));
        let req = WireRequest {
            method: "POST",
            path: "/service/GraniteServiceVersion20100801/operation/ListMetrics",
            query: "",
            content_type: Some("application/cbor"),
            target: None,
            smithy_protocol: Some("rpc-v2-cbor"),
            body: &body,
        };
        assert_eq!(detect_protocol(ServiceId::Monitoring, &req), Protocol::Cbor);
        let d = decode(ServiceId::Monitoring, Protocol::Cbor, &req).unwrap();
        assert_eq!(d.operation.name, "ListMetrics");
        assert_eq!(d.input, json!({"Namespace": "ns", "MetricName": "m"}));
        let e =
            encode_error(ServiceId::Monitoring, Protocol::Cbor, "rid", &AwsError::new("ResourceNotFound", 404, "gone"));
        assert!(e.headers.iter().any(|(k, v)| *k == "x-amzn-query-error" && v == "ResourceNotFound;Sender"));
    }
}
