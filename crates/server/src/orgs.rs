//! AWS Organizations over the JSON 1.1 protocol: decode the input object,
//! authorize `organizations:ACTION`, call `ward-core::org`, write the output
//! object in the shapes of the Organizations API reference
//! (<https://docs.aws.amazon.com/organizations/latest/APIReference/>).
//! Lists come back whole (no `NextToken`): organizations are small.

use crate::AppState;
use serde_json::{json, Value};
use ward_core::auth::{Caller, RequestInfo};
use ward_core::org::{CreateAccountStatus, Member, OrgPolicy, Organization, Ou, Target};
use ward_core::store::Store;
use ward_core::ApiError;

fn opt<'a>(input: &'a Value, name: &str) -> Option<&'a str> {
    input.get(name).and_then(Value::as_str)
}

pub(crate) fn req<'a>(input: &'a Value, name: &str) -> Result<&'a str, ApiError> {
    opt(input, name).ok_or_else(|| {
        ApiError::new(
            "InvalidInputException",
            400,
            format!("You must specify a value for {name}."),
        )
    })
}

fn organization(o: &Organization) -> Value {
    json!({
        "Id": o.id,
        "Arn": o.arn,
        "FeatureSet": o.feature_set,
        "MasterAccountArn": format!("arn:aws:organizations::{0}:account/{1}/{0}", o.management_account, o.id),
        "MasterAccountId": o.management_account,
        "MasterAccountEmail": o.management_email,
        "AvailablePolicyTypes": policy_types(o),
    })
}

fn policy_types(o: &Organization) -> Value {
    Value::Array(
        o.enabled_types
            .iter()
            .map(|t| json!({"Type": t, "Status": "ENABLED"}))
            .collect(),
    )
}

fn root(o: &Organization) -> Value {
    json!({"Id": o.root_id, "Arn": o.root_arn, "Name": "Root", "PolicyTypes": policy_types(o)})
}

fn ou(u: &Ou) -> Value {
    json!({"Id": u.id, "Arn": u.arn, "Name": u.name})
}

fn account(m: &Member) -> Value {
    json!({
        "Id": m.account,
        "Arn": m.arn,
        "Email": m.email,
        "Name": m.name,
        "Status": "ACTIVE",
        "State": "ACTIVE",
        "JoinedMethod": m.joined_method,
        "JoinedTimestamp": m.joined,
    })
}

fn status(s: &CreateAccountStatus) -> Value {
    let mut v = serde_json::Map::new();
    v.insert("Id".into(), json!(s.id));
    v.insert("AccountName".into(), json!(s.account_name));
    v.insert("State".into(), json!(s.state));
    v.insert("RequestedTimestamp".into(), json!(s.requested));
    v.insert("CompletedTimestamp".into(), json!(s.completed));
    if let Some(a) = &s.account_id {
        v.insert("AccountId".into(), json!(a));
    }
    if let Some(f) = &s.failure_reason {
        v.insert("FailureReason".into(), json!(f));
    }
    Value::Object(v)
}

fn summary(p: &OrgPolicy) -> Value {
    json!({
        "Id": p.id,
        "Arn": p.arn,
        "Name": p.name,
        "Description": p.description,
        "Type": p.policy_type,
        "AwsManaged": p.aws_managed,
    })
}

fn target(t: &Target) -> Value {
    json!({"TargetId": t.id, "Arn": t.arn, "Name": t.name, "Type": t.kind})
}

/// Run one Organizations operation.
pub(crate) fn dispatch<S: Store>(
    st: &AppState<S>,
    action: &str,
    input: &Value,
    caller: &Caller,
    info: &RequestInfo,
) -> Result<Value, ApiError> {
    let i = &st.iam;
    let a = caller.account.as_str();
    let now = info.now;
    let known = matches!(
        action,
        "CreateOrganization"
            | "DescribeOrganization"
            | "DeleteOrganization"
            | "ListRoots"
            | "CreateOrganizationalUnit"
            | "DescribeOrganizationalUnit"
            | "ListOrganizationalUnitsForParent"
            | "CreateAccount"
            | "DescribeCreateAccountStatus"
            | "ListAccounts"
            | "ListAccountsForParent"
            | "DescribeAccount"
            | "MoveAccount"
            | "ListParents"
            | "CreatePolicy"
            | "UpdatePolicy"
            | "DescribePolicy"
            | "DeletePolicy"
            | "ListPolicies"
            | "AttachPolicy"
            | "DetachPolicy"
            | "ListPoliciesForTarget"
            | "ListTargetsForPolicy"
            | "EnablePolicyType"
            | "DisablePolicyType"
    );
    if !known {
        return Err(ApiError::new(
            "UnknownOperationException",
            400,
            format!("Ward does not implement Organizations {action} yet (see docs/compat.md)"),
        ));
    }
    // Organizations actions are authorized on `*` (see docs/compat.md).
    i.authorize(
        caller,
        &format!("organizations:{action}"),
        "*",
        &[],
        None,
        info,
    )
    .map_err(|e| ApiError::new("AccessDeniedException", 400, e.message))?;
    let empty = || Ok(json!({}));
    match action {
        "CreateOrganization" => {
            let o = i.create_organization(a, opt(input, "FeatureSet"), now)?;
            Ok(json!({"Organization": organization(&o)}))
        }
        "DescribeOrganization" => {
            Ok(json!({"Organization": organization(&i.describe_organization(a)?)}))
        }
        "DeleteOrganization" => {
            i.delete_organization(a)?;
            empty()
        }
        "ListRoots" => Ok(json!({"Roots": [root(&i.list_roots(a)?)]})),
        "CreateOrganizationalUnit" => {
            let u = i.create_ou(a, req(input, "ParentId")?, req(input, "Name")?)?;
            Ok(json!({"OrganizationalUnit": ou(&u)}))
        }
        "DescribeOrganizationalUnit" => {
            let u = i.describe_ou(a, req(input, "OrganizationalUnitId")?)?;
            Ok(json!({"OrganizationalUnit": ou(&u)}))
        }
        "ListOrganizationalUnitsForParent" => {
            let v = i.list_ous(a, req(input, "ParentId")?)?;
            Ok(json!({"OrganizationalUnits": v.iter().map(ou).collect::<Vec<_>>()}))
        }
        "CreateAccount" => {
            let s = i.create_org_account(
                a,
                req(input, "AccountName")?,
                req(input, "Email")?,
                opt(input, "RoleName"),
                now,
            )?;
            Ok(json!({"CreateAccountStatus": status(&s)}))
        }
        "DescribeCreateAccountStatus" => {
            let s = i.create_account_status(a, req(input, "CreateAccountRequestId")?)?;
            Ok(json!({"CreateAccountStatus": status(&s)}))
        }
        "ListAccounts" => {
            let v = i.list_org_accounts(a, None)?;
            Ok(json!({"Accounts": v.iter().map(account).collect::<Vec<_>>()}))
        }
        "ListAccountsForParent" => {
            let v = i.list_org_accounts(a, Some(req(input, "ParentId")?))?;
            Ok(json!({"Accounts": v.iter().map(account).collect::<Vec<_>>()}))
        }
        "DescribeAccount" => {
            let m = i.describe_org_account(a, req(input, "AccountId")?)?;
            Ok(json!({"Account": account(&m)}))
        }
        "MoveAccount" => {
            i.move_account(
                a,
                req(input, "AccountId")?,
                req(input, "SourceParentId")?,
                req(input, "DestinationParentId")?,
            )?;
            empty()
        }
        "ListParents" => {
            let (id, kind) = i.list_parents(a, req(input, "ChildId")?)?;
            Ok(json!({"Parents": [{"Id": id, "Type": kind}]}))
        }
        "CreatePolicy" => {
            let p = i.create_org_policy(
                a,
                req(input, "Name")?,
                opt(input, "Description").unwrap_or(""),
                req(input, "Type")?,
                req(input, "Content")?,
            )?;
            Ok(json!({"Policy": {"PolicySummary": summary(&p), "Content": p.content}}))
        }
        "UpdatePolicy" => {
            let p = i.update_org_policy(
                a,
                req(input, "PolicyId")?,
                opt(input, "Name"),
                opt(input, "Description"),
                opt(input, "Content"),
            )?;
            Ok(json!({"Policy": {"PolicySummary": summary(&p), "Content": p.content}}))
        }
        "DescribePolicy" => {
            let p = i.describe_org_policy(a, req(input, "PolicyId")?)?;
            Ok(json!({"Policy": {"PolicySummary": summary(&p), "Content": p.content}}))
        }
        "DeletePolicy" => {
            i.delete_org_policy(a, req(input, "PolicyId")?)?;
            empty()
        }
        "ListPolicies" => {
            let v = i.list_org_policies(a, req(input, "Filter")?)?;
            Ok(json!({"Policies": v.iter().map(summary).collect::<Vec<_>>()}))
        }
        "AttachPolicy" | "DetachPolicy" => {
            let (p, t) = (req(input, "PolicyId")?, req(input, "TargetId")?);
            if action == "AttachPolicy" {
                i.attach_org_policy(a, p, t)?;
            } else {
                i.detach_org_policy(a, p, t)?;
            }
            empty()
        }
        "ListPoliciesForTarget" => {
            let v =
                i.list_policies_for_target(a, req(input, "TargetId")?, req(input, "Filter")?)?;
            Ok(json!({"Policies": v.iter().map(summary).collect::<Vec<_>>()}))
        }
        "ListTargetsForPolicy" => {
            let v = i.list_targets_for_policy(a, req(input, "PolicyId")?)?;
            Ok(json!({"Targets": v.iter().map(target).collect::<Vec<_>>()}))
        }
        "EnablePolicyType" | "DisablePolicyType" => {
            let o = i.set_policy_type(
                a,
                req(input, "RootId")?,
                req(input, "PolicyType")?,
                action == "EnablePolicyType",
            )?;
            Ok(json!({"Root": root(&o)}))
        }
        _ => Err(ApiError::internal()),
    }
}
