//! AWS Organizations: one organization per management account, a root,
//! organizational units, member accounts (created here, each with an
//! `OrganizationAccountAccessRole` that trusts the management account), and
//! service control and resource control policies attached to the root, OUs
//! and accounts.
//!
//! Semantics follow the Organizations User Guide
//! (<https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html>):
//! enabling a policy type attaches its full-access policy (`FullAWSAccess`,
//! `RCPFullAWSAccess`) to the root, and every new OU and account gets it too;
//! an entity keeps at least one policy of each enabled type; SCPs bind every
//! principal of a member account (never the management account), level by
//! level from the root down; RCPs bind the resources of member accounts for
//! the services AWS lists.
//!
//! Errors carry the Organizations exception names (`...Exception`) and the
//! JSON-protocol HTTP status 400, as AWS answers them.

use crate::error::{ApiError, ApiResult};
use crate::iam::{get, put, Entity, Iam};
use crate::model::random_bytes;
use crate::store::{Store, Tx, TxMut};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use ward_policy::{PolicySet, PolicyType};

pub(crate) mod kind {
    /// Organization by id.
    pub const ORG: &str = "org";
    /// Account id → its membership (the management account's too).
    pub const ORG_ACCOUNT: &str = "org_account";
    /// OU by id.
    pub const ORG_OU: &str = "org_ou";
    /// Policy by id.
    pub const ORG_POLICY: &str = "org_policy";
    /// `{target id}/{policy id}`.
    pub const ORG_ATTACH: &str = "org_attach";
    /// `CreateAccount` request status by id.
    pub const ORG_CREATE_STATUS: &str = "org_create_status";
}

pub const SCP: &str = "SERVICE_CONTROL_POLICY";
pub const RCP: &str = "RESOURCE_CONTROL_POLICY";
/// SCP and RCP document size limit, in characters.
pub const POLICY_SIZE: usize = 5120;
/// The role every created account gets.
pub const ACCESS_ROLE: &str = "OrganizationAccountAccessRole";

/// Services whose resources RCPs govern
/// (<https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_rcps.html>).
const RCP_SERVICES: &[&str] = &[
    "s3",
    "sts",
    "kms",
    "sqs",
    "secretsmanager",
    "cognito-identity",
    "logs",
    "dynamodb",
    "ecr",
    "es",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    pub id: String,
    pub arn: String,
    pub feature_set: String,
    pub management_account: String,
    pub management_email: String,
    pub root_id: String,
    pub root_arn: String,
    /// Enabled policy types of the root.
    pub enabled_types: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub account: String,
    pub org_id: String,
    pub arn: String,
    pub name: String,
    pub email: String,
    pub parent_id: String,
    /// `CREATED` or `INVITED` (the management account counts as created).
    pub joined_method: String,
    pub joined: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ou {
    pub id: String,
    pub arn: String,
    pub name: String,
    pub parent_id: String,
    pub org_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgPolicy {
    pub id: String,
    pub arn: String,
    pub org_id: String,
    pub name: String,
    pub description: String,
    pub policy_type: String,
    pub aws_managed: bool,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateAccountStatus {
    pub id: String,
    pub org_id: String,
    pub account_name: String,
    pub state: String,
    pub account_id: Option<String>,
    pub failure_reason: Option<String>,
    pub requested: i64,
    pub completed: i64,
}

/// Where a policy is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: String,
    pub arn: String,
    pub name: String,
    /// `ROOT`, `ORGANIZATIONAL_UNIT` or `ACCOUNT`.
    pub kind: &'static str,
}

/// What authorization needs of an account's place in an organization.
#[derive(Debug, Default)]
pub struct OrgView {
    pub org_id: String,
    /// `o-.../r-.../ou-.../` (the account's path, for `aws:PrincipalOrgPaths`).
    pub path: String,
    /// The SCP sets, root first, account last; empty for the management
    /// account or when SCPs are not enabled.
    pub scp: Vec<PolicySet>,
    pub rcp: Vec<PolicySet>,
}

fn err(code: &'static str, msg: impl Into<String>) -> ApiError {
    ApiError::new(code, 400, msg)
}

fn not_in_use() -> ApiError {
    err(
        "AWSOrganizationsNotInUseException",
        "Your account is not a member of an organization.",
    )
}

fn not_management() -> ApiError {
    err(
        "AccessDeniedException",
        "You don't have permissions to access this resource.",
    )
}

const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

fn rand_lower(n: usize) -> String {
    let bytes: [u8; 32] = random_bytes();
    bytes
        .iter()
        .take(n)
        .map(|b| {
            char::from(
                LOWER
                    .get(usize::from(*b) % LOWER.len())
                    .copied()
                    .unwrap_or(b'a'),
            )
        })
        .collect()
}

/// The full-access policy of a type: its id and document.
fn full_access(ty: &str) -> (&'static str, &'static str, &'static str) {
    const DOC: &str =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    if ty == RCP {
        (
            "p-RCPFullAWSAccess",
            "RCPFullAWSAccess",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#,
        )
    } else {
        ("p-FullAWSAccess", "FullAWSAccess", DOC)
    }
}

fn policy_type(ty: &str) -> ApiResult<PolicyType> {
    match ty {
        SCP => Ok(PolicyType::Scp),
        RCP => Ok(PolicyType::Rcp),
        other => Err(err(
            "InvalidInputException",
            format!("You provided a value that does not match the required pattern: {other} is not a supported policy type."),
        )),
    }
}

impl<S: Store> Iam<S> {
    fn member_in(&self, tx: &dyn Tx, account: &str) -> ApiResult<Option<Member>> {
        get(tx, kind::ORG_ACCOUNT, account)
    }

    /// The organization of `account` and whether it is its management
    /// account.
    fn org_of(&self, tx: &dyn Tx, account: &str) -> ApiResult<(Organization, bool)> {
        let m = self.member_in(tx, account)?.ok_or_else(not_in_use)?;
        let o: Organization = get(tx, kind::ORG, &m.org_id)?.ok_or_else(not_in_use)?;
        let mgmt = o.management_account == account;
        Ok((o, mgmt))
    }

    /// The organization, for a management-account caller only.
    fn managed_org(&self, tx: &dyn Tx, account: &str) -> ApiResult<Organization> {
        let (o, mgmt) = self.org_of(tx, account)?;
        if !mgmt {
            return Err(not_management());
        }
        Ok(o)
    }

    /// `DescribeOrganization` (any member account may).
    pub fn describe_organization(&self, account: &str) -> ApiResult<Organization> {
        self.store
            .read(|tx| self.org_of(tx, account).map(|(o, _)| o))
    }

    /// `CreateOrganization`: `account` becomes the management account.
    pub fn create_organization(
        &self,
        account: &str,
        feature_set: Option<&str>,
        now: i64,
    ) -> ApiResult<Organization> {
        let fs = feature_set.unwrap_or("ALL");
        if fs != "ALL" && fs != "CONSOLIDATED_BILLING" {
            return Err(err(
                "InvalidInputException",
                format!("FeatureSet must be ALL or CONSOLIDATED_BILLING, not {fs}."),
            ));
        }
        self.write_org(|tx| {
            if self.member_in(tx, account)?.is_some() {
                return Err(err(
                    "AlreadyInOrganizationException",
                    "The AWS account is already a member of an organization.",
                ));
            }
            let id = format!("o-{}", rand_lower(10));
            let root_id = format!("r-{}", rand_lower(4));
            let o = Organization {
                arn: format!(
                    "arn:{}:organizations::{account}:organization/{id}",
                    self.partition
                ),
                root_arn: format!(
                    "arn:{}:organizations::{account}:root/{id}/{root_id}",
                    self.partition
                ),
                id: id.clone(),
                feature_set: fs.into(),
                management_account: account.into(),
                management_email: format!("management@{account}.ward.invalid"),
                root_id: root_id.clone(),
                enabled_types: vec![],
            };
            put(tx, kind::ORG, &id, &o)?;
            let m = Member {
                account: account.into(),
                org_id: id.clone(),
                arn: self.member_arn(&o, account),
                name: "management".into(),
                email: o.management_email.clone(),
                parent_id: root_id,
                joined_method: "CREATED".into(),
                joined: now,
            };
            put(tx, kind::ORG_ACCOUNT, account, &m)?;
            Ok(o)
        })
    }

    fn member_arn(&self, o: &Organization, account: &str) -> String {
        format!(
            "arn:{}:organizations::{}:account/{}/{account}",
            self.partition, o.management_account, o.id
        )
    }

    /// `DeleteOrganization`: only with no member accounts left.
    pub fn delete_organization(&self, account: &str) -> ApiResult<()> {
        self.write_org(|tx| {
            let o = self.managed_org(tx, account)?;
            let members = self.members(tx, &o)?;
            if members.len() > 1 {
                return Err(err(
                    "OrganizationNotEmptyException",
                    "To delete an organization you must first remove all member accounts (except the master).",
                ));
            }
            let mut targets = vec![o.root_id.clone(), account.to_string()];
            for ou in crate::iam::scan_all::<Ou>(tx, kind::ORG_OU, "")? {
                if ou.org_id == o.id {
                    tx.delete(kind::ORG_OU, &ou.id)?;
                    targets.push(ou.id);
                }
            }
            for t in &targets {
                for k in crate::iam::scan_keys(tx, kind::ORG_ATTACH, &format!("{t}/"))? {
                    tx.delete(kind::ORG_ATTACH, &k)?;
                }
            }
            for p in self.policies_in(tx, &o, None)? {
                if !p.aws_managed {
                    tx.delete(kind::ORG_POLICY, &p.id)?;
                }
            }
            tx.delete(kind::ORG_ACCOUNT, account)?;
            tx.delete(kind::ORG, &o.id)?;
            Ok(())
        })
    }

    fn members(&self, tx: &dyn Tx, o: &Organization) -> ApiResult<Vec<Member>> {
        Ok(crate::iam::scan_all::<Member>(tx, kind::ORG_ACCOUNT, "")?
            .into_iter()
            .filter(|m| m.org_id == o.id)
            .collect())
    }

    /// A root or OU id of `o`: its kind, if it exists.
    fn parent_kind(
        &self,
        tx: &dyn Tx,
        o: &Organization,
        id: &str,
    ) -> ApiResult<Option<&'static str>> {
        if id == o.root_id {
            return Ok(Some("ROOT"));
        }
        Ok(get::<Ou>(tx, kind::ORG_OU, id)?
            .filter(|ou| ou.org_id == o.id)
            .map(|_| "ORGANIZATIONAL_UNIT"))
    }

    /// Attach the full-access policy of every enabled type to a new target.
    fn attach_defaults(&self, tx: &mut dyn TxMut, o: &Organization, target: &str) -> ApiResult<()> {
        for ty in &o.enabled_types {
            let (pid, _, _) = full_access(ty);
            tx.put(kind::ORG_ATTACH, &format!("{target}/{pid}"), b"")?;
        }
        Ok(())
    }

    /// `ListRoots`.
    pub fn list_roots(&self, account: &str) -> ApiResult<Organization> {
        self.store.read(|tx| self.managed_org(tx, account))
    }

    /// `CreateOrganizationalUnit`.
    pub fn create_ou(&self, account: &str, parent: &str, name: &str) -> ApiResult<Ou> {
        if name.is_empty() || name.len() > 128 {
            return Err(err(
                "InvalidInputException",
                "You provided a value that does not match the required pattern: the OU name must be 1 to 128 characters.",
            ));
        }
        self.write_org(|tx| {
            let o = self.managed_org(tx, account)?;
            if self.parent_kind(tx, &o, parent)?.is_none() {
                return Err(parent_not_found());
            }
            if self
                .ous_under(tx, &o, parent)?
                .iter()
                .any(|ou| ou.name == name)
            {
                return Err(err(
                    "DuplicateOrganizationalUnitException",
                    "An OU with the same name already exists.",
                ));
            }
            // OU depth: at most five levels under the root.
            if self.ou_path(tx, &o, parent)?.len() >= 5 {
                return Err(err(
                    "ConstraintViolationException",
                    "You have reached the maximum depth of nested OUs (OU_DEPTH_LIMIT_EXCEEDED).",
                ));
            }
            let id = format!(
                "ou-{}-{}",
                o.root_id.trim_start_matches("r-"),
                rand_lower(8)
            );
            let ou = Ou {
                arn: format!(
                    "arn:{}:organizations::{}:ou/{}/{id}",
                    self.partition, o.management_account, o.id
                ),
                id: id.clone(),
                name: name.into(),
                parent_id: parent.into(),
                org_id: o.id.clone(),
            };
            put(tx, kind::ORG_OU, &id, &ou)?;
            self.attach_defaults(tx, &o, &id)?;
            Ok(ou)
        })
    }

    fn ous_under(&self, tx: &dyn Tx, o: &Organization, parent: &str) -> ApiResult<Vec<Ou>> {
        Ok(crate::iam::scan_all::<Ou>(tx, kind::ORG_OU, "")?
            .into_iter()
            .filter(|ou| ou.org_id == o.id && ou.parent_id == parent)
            .collect())
    }

    /// The OUs from the root down to `id` (an OU or the root: empty).
    fn ou_path(&self, tx: &dyn Tx, o: &Organization, id: &str) -> ApiResult<Vec<Ou>> {
        let mut path = Vec::new();
        let mut cur = id.to_string();
        while cur != o.root_id {
            let Some(ou) = get::<Ou>(tx, kind::ORG_OU, &cur)? else {
                break;
            };
            cur = ou.parent_id.clone();
            path.push(ou);
            if path.len() > 10 {
                break;
            }
        }
        path.reverse();
        Ok(path)
    }

    /// `ListOrganizationalUnitsForParent`.
    pub fn list_ous(&self, account: &str, parent: &str) -> ApiResult<Vec<Ou>> {
        self.store.read(|tx| {
            let o = self.managed_org(tx, account)?;
            if self.parent_kind(tx, &o, parent)?.is_none() {
                return Err(parent_not_found());
            }
            self.ous_under(tx, &o, parent)
        })
    }

    /// `DescribeOrganizationalUnit`.
    pub fn describe_ou(&self, account: &str, id: &str) -> ApiResult<Ou> {
        self.store.read(|tx| {
            let o = self.managed_org(tx, account)?;
            get::<Ou>(tx, kind::ORG_OU, id)?
                .filter(|ou| ou.org_id == o.id)
                .ok_or_else(|| {
                    err(
                        "OrganizationalUnitNotFoundException",
                        "We can't find an OU with the OrganizationalUnitId that you specified.",
                    )
                })
        })
    }

    /// `CreateAccount`: done at once; its status is `SUCCEEDED` (or `FAILED`
    /// with AWS's reason when the email is taken).
    pub fn create_org_account(
        &self,
        account: &str,
        name: &str,
        email: &str,
        role_name: Option<&str>,
        now: i64,
    ) -> ApiResult<CreateAccountStatus> {
        let o = self.store.read(|tx| self.managed_org(tx, account))?;
        let req_id = format!("car-{}", hex_id());
        let taken = self.store.read(|tx| {
            Ok::<_, ApiError>(
                self.members(tx, &o)?
                    .iter()
                    .any(|m| m.email.eq_ignore_ascii_case(email)),
            )
        })?;
        let mut status = CreateAccountStatus {
            id: req_id.clone(),
            org_id: o.id.clone(),
            account_name: name.into(),
            state: "SUCCEEDED".into(),
            account_id: None,
            failure_reason: None,
            requested: now,
            completed: now,
        };
        if taken {
            status.state = "FAILED".into();
            status.failure_reason = Some("EMAIL_ALREADY_EXISTS".into());
            self.write_org(|tx| put(tx, kind::ORG_CREATE_STATUS, &req_id, &status))?;
            return Ok(status);
        }
        // A fresh 12-digit id.
        let new_id = loop {
            let b: [u8; 8] = random_bytes();
            let n = u64::from_le_bytes(b) % 900_000_000_000 + 100_000_000_000;
            let id = n.to_string();
            if self.account(&id)?.is_none() {
                break id;
            }
        };
        self.ensure_account(&new_id, now)?;
        let role = role_name.unwrap_or(ACCESS_ROLE);
        let trust = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:{}:iam::{}:root"}},"Action":"sts:AssumeRole"}}]}}"#,
            self.partition, o.management_account
        );
        self.create_role(&new_id, role, None, &trust, None, None, vec![], None, now)?;
        self.put_inline(
            &new_id,
            Entity::Role,
            role,
            "AdministratorAccess",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        )?;
        status.account_id = Some(new_id.clone());
        self.write_org(|tx| {
            let m = Member {
                account: new_id.clone(),
                org_id: o.id.clone(),
                arn: self.member_arn(&o, &new_id),
                name: name.into(),
                email: email.into(),
                parent_id: o.root_id.clone(),
                joined_method: "CREATED".into(),
                joined: now,
            };
            put(tx, kind::ORG_ACCOUNT, &new_id, &m)?;
            // The root's enabled types as of now.
            let o: Organization = get(tx, kind::ORG, &o.id)?.ok_or_else(not_in_use)?;
            self.attach_defaults(tx, &o, &new_id)?;
            put(tx, kind::ORG_CREATE_STATUS, &req_id, &status)
        })?;
        Ok(status)
    }

    /// `DescribeCreateAccountStatus`.
    pub fn create_account_status(&self, account: &str, id: &str) -> ApiResult<CreateAccountStatus> {
        self.store.read(|tx| {
            let o = self.managed_org(tx, account)?;
            get::<CreateAccountStatus>(tx, kind::ORG_CREATE_STATUS, id)?
                .filter(|s| s.org_id == o.id)
                .ok_or_else(|| {
                    err(
                        "CreateAccountStatusNotFoundException",
                        "We can't find an create account request with the CreateAccountRequestId that you specified.",
                    )
                })
        })
    }

    /// `ListAccounts` (or `ListAccountsForParent` with `parent`).
    pub fn list_org_accounts(&self, account: &str, parent: Option<&str>) -> ApiResult<Vec<Member>> {
        self.store.read(|tx| {
            let o = self.managed_org(tx, account)?;
            if let Some(p) = parent {
                if self.parent_kind(tx, &o, p)?.is_none() {
                    return Err(parent_not_found());
                }
            }
            let mut v: Vec<Member> = self
                .members(tx, &o)?
                .into_iter()
                .filter(|m| parent.is_none_or(|p| m.parent_id == p))
                .collect();
            v.sort_by(|a, b| a.joined.cmp(&b.joined).then(a.account.cmp(&b.account)));
            Ok(v)
        })
    }

    /// `DescribeAccount`.
    pub fn describe_org_account(&self, account: &str, id: &str) -> ApiResult<Member> {
        self.store.read(|tx| {
            let o = self.managed_org(tx, account)?;
            self.member_in(tx, id)?
                .filter(|m| m.org_id == o.id)
                .ok_or_else(account_not_found)
        })
    }

    /// `MoveAccount`.
    pub fn move_account(&self, account: &str, id: &str, from: &str, to: &str) -> ApiResult<()> {
        self.write_org(|tx| {
            let o = self.managed_org(tx, account)?;
            let mut m = self
                .member_in(tx, id)?
                .filter(|m| m.org_id == o.id)
                .ok_or_else(account_not_found)?;
            if self.parent_kind(tx, &o, from)?.is_none() {
                return Err(err(
                    "SourceParentNotFoundException",
                    "We can't find a source root or OU with the ParentId that you specified.",
                ));
            }
            if self.parent_kind(tx, &o, to)?.is_none() {
                return Err(err(
                    "DestinationParentNotFoundException",
                    "We can't find a destination root or OU with the ParentId that you specified.",
                ));
            }
            if m.parent_id != from {
                return Err(err(
                    "AccountNotFoundException",
                    "We can't find an AWS account with the AccountId that you specified in the SourceParentId.",
                ));
            }
            if from == to {
                return Err(err(
                    "DuplicateAccountException",
                    "That account is already present in the specified destination.",
                ));
            }
            m.parent_id = to.into();
            put(tx, kind::ORG_ACCOUNT, id, &m)
        })
    }

    /// `ListParents`: the parent of an account or OU.
    pub fn list_parents(&self, account: &str, child: &str) -> ApiResult<(String, &'static str)> {
        self.store.read(|tx| {
            let o = self.managed_org(tx, account)?;
            let parent = if let Some(m) = self.member_in(tx, child)?.filter(|m| m.org_id == o.id) {
                m.parent_id
            } else if let Some(ou) = get::<Ou>(tx, kind::ORG_OU, child)?.filter(|ou| ou.org_id == o.id) {
                ou.parent_id
            } else {
                return Err(err(
                    "ChildNotFoundException",
                    "We can't find an organizational unit (OU) or AWS account with the ChildId that you specified.",
                ));
            };
            let k = self.parent_kind(tx, &o, &parent)?.unwrap_or("ROOT");
            Ok((parent, k))
        })
    }

    // ---------- policies ----------

    /// The policy `id` (the AWS-managed full-access ones included).
    fn org_policy_in(&self, tx: &dyn Tx, o: &Organization, id: &str) -> ApiResult<OrgPolicy> {
        for ty in [SCP, RCP] {
            let (pid, name, doc) = full_access(ty);
            if id == pid {
                return Ok(OrgPolicy {
                    id: pid.into(),
                    arn: format!(
                        "arn:{}:organizations::aws:policy/{}/{pid}",
                        self.partition,
                        ty.to_lowercase()
                    ),
                    org_id: o.id.clone(),
                    name: name.into(),
                    description: "Allows access to every operation".into(),
                    policy_type: ty.into(),
                    aws_managed: true,
                    content: doc.into(),
                });
            }
        }
        get::<OrgPolicy>(tx, kind::ORG_POLICY, id)?
            .filter(|p| p.org_id == o.id)
            .ok_or_else(policy_not_found)
    }

    fn policies_in(
        &self,
        tx: &dyn Tx,
        o: &Organization,
        ty: Option<&str>,
    ) -> ApiResult<Vec<OrgPolicy>> {
        let mut v = Vec::new();
        for t in [SCP, RCP] {
            if ty.is_none_or(|x| x == t) {
                v.push(self.org_policy_in(tx, o, full_access(t).0)?);
            }
        }
        v.extend(
            crate::iam::scan_all::<OrgPolicy>(tx, kind::ORG_POLICY, "")?
                .into_iter()
                .filter(|p| p.org_id == o.id && ty.is_none_or(|t| p.policy_type == t)),
        );
        Ok(v)
    }

    fn check_org_document(ty: &str, content: &str) -> ApiResult<()> {
        let pt = policy_type(ty)?;
        if content.chars().count() > POLICY_SIZE {
            return Err(err(
                "ConstraintViolationException",
                format!("The provided policy document exceeds the maximum size of {POLICY_SIZE} characters (POLICY_CONTENT_LIMIT_EXCEEDED)."),
            ));
        }
        ward_policy::parse(content, pt).map_err(|e| {
            err(
                "MalformedPolicyDocumentException",
                format!(
                    "The provided policy document doesn't meet the requirements of the specified policy type: {}",
                    e.message
                ),
            )
        })?;
        Ok(())
    }

    /// `CreatePolicy`.
    pub fn create_org_policy(
        &self,
        account: &str,
        name: &str,
        description: &str,
        ty: &str,
        content: &str,
    ) -> ApiResult<OrgPolicy> {
        Self::check_org_document(ty, content)?;
        self.write_org(|tx| {
            let o = self.managed_org(tx, account)?;
            if self
                .policies_in(tx, &o, Some(ty))?
                .iter()
                .any(|p| p.name == name)
            {
                return Err(err(
                    "DuplicatePolicyException",
                    "A policy with the same name already exists.",
                ));
            }
            let id = format!("p-{}", rand_lower(8));
            let p = OrgPolicy {
                arn: format!(
                    "arn:{}:organizations::{}:policy/{}/{}/{id}",
                    self.partition,
                    o.management_account,
                    o.id,
                    ty.to_lowercase()
                ),
                id: id.clone(),
                org_id: o.id.clone(),
                name: name.into(),
                description: description.into(),
                policy_type: ty.into(),
                aws_managed: false,
                content: content.into(),
            };
            put(tx, kind::ORG_POLICY, &id, &p)?;
            Ok(p)
        })
    }

    /// `UpdatePolicy`.
    pub fn update_org_policy(
        &self,
        account: &str,
        id: &str,
        name: Option<&str>,
        description: Option<&str>,
        content: Option<&str>,
    ) -> ApiResult<OrgPolicy> {
        self.write_org(|tx| {
            let o = self.managed_org(tx, account)?;
            let mut p = self.org_policy_in(tx, &o, id)?;
            if p.aws_managed {
                return Err(err(
                    "PolicyChangesInProgressException",
                    "You can't change an AWS managed policy.",
                ));
            }
            if let Some(c) = content {
                Self::check_org_document(&p.policy_type, c)?;
                p.content = c.into();
            }
            if let Some(n) = name {
                p.name = n.into();
            }
            if let Some(d) = description {
                p.description = d.into();
            }
            put(tx, kind::ORG_POLICY, id, &p)?;
            Ok(p)
        })
    }

    /// `DescribePolicy`.
    pub fn describe_org_policy(&self, account: &str, id: &str) -> ApiResult<OrgPolicy> {
        self.store.read(|tx| {
            let o = self.managed_org(tx, account)?;
            self.org_policy_in(tx, &o, id)
        })
    }

    /// `DeletePolicy`: only when attached nowhere.
    pub fn delete_org_policy(&self, account: &str, id: &str) -> ApiResult<()> {
        self.write_org(|tx| {
            let o = self.managed_org(tx, account)?;
            let p = self.org_policy_in(tx, &o, id)?;
            if p.aws_managed {
                return Err(err(
                    "AccessDeniedException",
                    "You can't delete an AWS managed policy.",
                ));
            }
            if !self.targets_of(tx, &o, id)?.is_empty() {
                return Err(err(
                    "PolicyInUseException",
                    "The policy is attached to one or more entities. You must detach it from all roots, OUs, and accounts before performing this operation.",
                ));
            }
            tx.delete(kind::ORG_POLICY, id)?;
            Ok(())
        })
    }

    /// `ListPolicies` of a type.
    pub fn list_org_policies(&self, account: &str, ty: &str) -> ApiResult<Vec<OrgPolicy>> {
        policy_type(ty)?;
        self.store.read(|tx| {
            let o = self.managed_org(tx, account)?;
            self.policies_in(tx, &o, Some(ty))
        })
    }

    /// A target id of `o`, described.
    fn target_in(&self, tx: &dyn Tx, o: &Organization, id: &str) -> ApiResult<Target> {
        if id == o.root_id {
            return Ok(Target {
                id: id.into(),
                arn: o.root_arn.clone(),
                name: "Root".into(),
                kind: "ROOT",
            });
        }
        if let Some(ou) = get::<Ou>(tx, kind::ORG_OU, id)?.filter(|ou| ou.org_id == o.id) {
            return Ok(Target {
                id: id.into(),
                arn: ou.arn,
                name: ou.name,
                kind: "ORGANIZATIONAL_UNIT",
            });
        }
        if let Some(m) = self.member_in(tx, id)?.filter(|m| m.org_id == o.id) {
            return Ok(Target {
                id: id.into(),
                arn: m.arn,
                name: m.name,
                kind: "ACCOUNT",
            });
        }
        Err(err(
            "TargetNotFoundException",
            "We can't find a root, OU, account, or policy with the TargetId that you specified.",
        ))
    }

    fn attached_to(
        &self,
        tx: &dyn Tx,
        o: &Organization,
        target: &str,
        ty: &str,
    ) -> ApiResult<Vec<OrgPolicy>> {
        let mut v = Vec::new();
        for k in crate::iam::scan_keys(tx, kind::ORG_ATTACH, &format!("{target}/"))? {
            let pid = k.rsplit('/').next().unwrap_or("");
            if let Ok(p) = self.org_policy_in(tx, o, pid) {
                if p.policy_type == ty {
                    v.push(p);
                }
            }
        }
        Ok(v)
    }

    fn targets_of(&self, tx: &dyn Tx, o: &Organization, policy: &str) -> ApiResult<Vec<Target>> {
        let mut v = Vec::new();
        for (k, _) in crate::iam::scan_all_raw(tx, kind::ORG_ATTACH, "")? {
            if let Some((t, p)) = k.split_once('/') {
                if p == policy {
                    if let Ok(t) = self.target_in(tx, o, t) {
                        v.push(t);
                    }
                }
            }
        }
        Ok(v)
    }

    /// `AttachPolicy`.
    pub fn attach_org_policy(&self, account: &str, policy: &str, target: &str) -> ApiResult<()> {
        self.write_org(|tx| {
            let o = self.managed_org(tx, account)?;
            let p = self.org_policy_in(tx, &o, policy)?;
            self.target_in(tx, &o, target)?;
            if !o.enabled_types.contains(&p.policy_type) {
                return Err(type_not_enabled());
            }
            let k = format!("{target}/{policy}");
            if tx.get(kind::ORG_ATTACH, &k)?.is_some() {
                return Err(err(
                    "DuplicatePolicyAttachmentException",
                    "The selected policy is already attached to the specified target.",
                ));
            }
            if self.attached_to(tx, &o, target, &p.policy_type)?.len() >= 5 {
                return Err(err(
                    "ConstraintViolationException",
                    "You have attached the maximum number of policies of this type to the entity (POLICY_NUMBER_LIMIT_EXCEEDED).",
                ));
            }
            tx.put(kind::ORG_ATTACH, &k, b"")?;
            Ok(())
        })
    }

    /// `DetachPolicy`: an entity keeps at least one policy of each enabled type.
    pub fn detach_org_policy(&self, account: &str, policy: &str, target: &str) -> ApiResult<()> {
        self.write_org(|tx| {
            let o = self.managed_org(tx, account)?;
            let p = self.org_policy_in(tx, &o, policy)?;
            self.target_in(tx, &o, target)?;
            let k = format!("{target}/{policy}");
            if tx.get(kind::ORG_ATTACH, &k)?.is_none() {
                return Err(err(
                    "PolicyNotAttachedException",
                    "The policy isn't attached to the specified target in the specified root.",
                ));
            }
            if self.attached_to(tx, &o, target, &p.policy_type)?.len() <= 1 {
                return Err(err(
                    "ConstraintViolationException",
                    "You have attached the minimum number of policies of a specific type to an entity (MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED).",
                ));
            }
            tx.delete(kind::ORG_ATTACH, &k)?;
            Ok(())
        })
    }

    /// `ListPoliciesForTarget`.
    pub fn list_policies_for_target(
        &self,
        account: &str,
        target: &str,
        ty: &str,
    ) -> ApiResult<Vec<OrgPolicy>> {
        policy_type(ty)?;
        self.store.read(|tx| {
            let o = self.managed_org(tx, account)?;
            self.target_in(tx, &o, target)?;
            self.attached_to(tx, &o, target, ty)
        })
    }

    /// `ListTargetsForPolicy`.
    pub fn list_targets_for_policy(&self, account: &str, policy: &str) -> ApiResult<Vec<Target>> {
        self.store.read(|tx| {
            let o = self.managed_org(tx, account)?;
            self.org_policy_in(tx, &o, policy)?;
            self.targets_of(tx, &o, policy)
        })
    }

    /// `EnablePolicyType` / `DisablePolicyType` on the root.
    pub fn set_policy_type(
        &self,
        account: &str,
        root: &str,
        ty: &str,
        enable: bool,
    ) -> ApiResult<Organization> {
        policy_type(ty)?;
        self.write_org(|tx| {
            let mut o = self.managed_org(tx, account)?;
            if root != o.root_id {
                return Err(err(
                    "RootNotFoundException",
                    "We can't find a root with the RootId that you specified.",
                ));
            }
            let on = o.enabled_types.iter().any(|t| t == ty);
            if enable {
                if on {
                    return Err(err(
                        "PolicyTypeAlreadyEnabledException",
                        "The specified policy type is already enabled.",
                    ));
                }
                if o.feature_set != "ALL" {
                    return Err(err(
                        "PolicyTypeNotAvailableForOrganizationException",
                        "You can't use the specified policy type with the feature set currently enabled for this organization.",
                    ));
                }
                o.enabled_types.push(ty.into());
                // The full-access policy goes on every root, OU and account.
                let (pid, _, _) = full_access(ty);
                let mut targets = vec![o.root_id.clone()];
                targets.extend(
                    crate::iam::scan_all::<Ou>(tx, kind::ORG_OU, "")?
                        .into_iter()
                        .filter(|ou| ou.org_id == o.id)
                        .map(|ou| ou.id),
                );
                targets.extend(self.members(tx, &o)?.into_iter().map(|m| m.account));
                for t in targets {
                    tx.put(kind::ORG_ATTACH, &format!("{t}/{pid}"), b"")?;
                }
            } else {
                if !on {
                    return Err(type_not_enabled());
                }
                o.enabled_types.retain(|t| t != ty);
                for (k, _) in crate::iam::scan_all_raw(tx, kind::ORG_ATTACH, "")? {
                    let pid = k.rsplit('/').next().unwrap_or("");
                    if self.org_policy_in(tx, &o, pid).is_ok_and(|p| p.policy_type == ty) {
                        tx.delete(kind::ORG_ATTACH, &k)?;
                    }
                }
            }
            put(tx, kind::ORG, &o.id, &o)?;
            Ok(o)
        })
    }

    // ---------- authorization ----------

    /// An account's place in its organization as authorization sees it
    /// (`None`: not in an organization). Cached until the next write to
    /// the organization (other writes leave it as it is).
    pub fn org_view(&self, account: &str) -> ApiResult<Option<Arc<OrgView>>> {
        let gen = self
            .views
            .org_generation
            .load(std::sync::atomic::Ordering::Acquire);
        if let Some(v) = self.views.orgs.get(gen, account) {
            return Ok(v.as_ref().clone());
        }
        let v = self.store.read(|tx| {
            let Some(m) = self.member_in(tx, account)? else {
                return Ok::<_, ApiError>(None);
            };
            let Some(o) = get::<Organization>(tx, kind::ORG, &m.org_id)? else {
                return Ok(None);
            };
            let ous = self.ou_path(tx, &o, &m.parent_id)?;
            let mut path = format!("{}/{}/", o.id, o.root_id);
            for ou in &ous {
                path.push_str(&ou.id);
                path.push('/');
            }
            let mut levels: Vec<String> = vec![o.root_id.clone()];
            levels.extend(ous.iter().map(|ou| ou.id.clone()));
            levels.push(account.to_string());
            let mgmt = o.management_account == account;
            let sets = |ty: &str, pt: PolicyType| -> ApiResult<Vec<PolicySet>> {
                if mgmt || !o.enabled_types.iter().any(|t| t == ty) {
                    return Ok(vec![]);
                }
                let mut out = Vec::new();
                for l in &levels {
                    let mut ps = Vec::new();
                    for p in self.attached_to(tx, &o, l, ty)? {
                        ps.push(self.compile(&p.arn, &p.content, pt)?);
                    }
                    out.push(PolicySet::new(ps));
                }
                Ok(out)
            };
            let scp = sets(SCP, PolicyType::Scp)?;
            let rcp = sets(RCP, PolicyType::Rcp)?;
            Ok(Some(Arc::new(OrgView {
                org_id: o.id,
                path,
                scp,
                rcp,
            })))
        })?;
        self.views.orgs.put(
            gen,
            &self.views.org_generation,
            account.to_string(),
            Arc::new(v.clone()),
        );
        Ok(v)
    }

    /// Whether RCPs govern `action`'s service.
    pub(crate) fn rcp_applies(action: &str) -> bool {
        let svc = action.split(':').next().unwrap_or("").to_ascii_lowercase();
        RCP_SERVICES.contains(&svc.as_str())
    }
}

fn hex_id() -> String {
    let b: [u8; 16] = random_bytes();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn parent_not_found() -> ApiError {
    err(
        "ParentNotFoundException",
        "We can't find a root or OU with the ParentId that you specified.",
    )
}

fn account_not_found() -> ApiError {
    err(
        "AccountNotFoundException",
        "We can't find an AWS account with the AccountId that you specified, or the account whose credentials you used to make this request isn't a member of an organization.",
    )
}

fn policy_not_found() -> ApiError {
    err(
        "PolicyNotFoundException",
        "We can't find a policy with the PolicyId that you specified.",
    )
}

fn type_not_enabled() -> ApiError {
    err(
        "PolicyTypeNotEnabledException",
        "This operation can be performed only for enabled policy types.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Caller, CallerKind, RequestInfo};
    use crate::crypto::Sealer;
    use crate::store::MemStore;

    const M: &str = "111111111111";

    fn root(account: &str) -> Caller {
        Caller {
            account: account.into(),
            arn: format!("arn:aws:iam::{account}:root"),
            user_id: account.into(),
            kind: CallerKind::Root,
            access_key_id: String::new(),
            session: None,
        }
    }

    #[test]
    fn scps_bind_member_accounts_level_by_level() {
        let i = Iam::new(
            Arc::new(MemStore::new()),
            Sealer::new(&Sealer::generate_key()),
        );
        i.ensure_account(M, 0).unwrap();
        let o = i.create_organization(M, None, 0).unwrap();
        assert_eq!(
            i.create_organization(M, None, 0).unwrap_err().code,
            "AlreadyInOrganizationException"
        );
        let st = i
            .create_org_account(M, "prod", "prod@example.com", None, 0)
            .unwrap();
        let prod = st.account_id.clone().unwrap();
        // The access role trusts the management account.
        let role = i.get_role(&prod, ACCESS_ROLE).unwrap();
        assert!(role
            .assume_role_policy
            .contains(&format!("arn:aws:iam::{M}:root")));
        // Same email again: a FAILED request, as AWS reports it.
        let dup = i
            .create_org_account(M, "prod2", "PROD@example.com", None, 0)
            .unwrap();
        assert_eq!(
            (dup.state.as_str(), dup.failure_reason.as_deref()),
            ("FAILED", Some("EMAIL_ALREADY_EXISTS"))
        );
        let ou = i.create_ou(M, &o.root_id, "Prod").unwrap();
        i.move_account(M, &prod, &o.root_id, &ou.id).unwrap();
        // A member may not manage the organization.
        assert_eq!(
            i.create_ou(&prod, &o.root_id, "x").unwrap_err().code,
            "AccessDeniedException"
        );
        let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:CreateUser","Resource":"*"}]}"#;
        let p = i.create_org_policy(M, "no-users", "", SCP, deny).unwrap();
        assert_eq!(
            i.attach_org_policy(M, &p.id, &ou.id).unwrap_err().code,
            "PolicyTypeNotEnabledException"
        );
        i.set_policy_type(M, &o.root_id, SCP, true).unwrap();
        // FullAWSAccess went everywhere; the last one cannot be detached.
        assert_eq!(
            i.detach_org_policy(M, "p-FullAWSAccess", &prod)
                .unwrap_err()
                .code,
            "ConstraintViolationException"
        );
        i.attach_org_policy(M, &p.id, &ou.id).unwrap();
        let info = RequestInfo {
            now: 0,
            region: "us-east-1".into(),
            ..RequestInfo::default()
        };
        let user = |a: &str| format!("arn:aws:iam::{a}:user/x");
        let e = i
            .authorize(
                &root(&prod),
                "iam:CreateUser",
                &user(&prod),
                &[],
                None,
                &info,
            )
            .unwrap_err();
        assert!(
            e.message
                .contains("with an explicit deny in a service control policy"),
            "{}",
            e.message
        );
        // Other actions pass every level; the management account is exempt.
        let list_users = || {
            i.authorize(
                &root(&prod),
                "iam:ListUsers",
                &user(&prod),
                &[],
                None,
                &info,
            )
        };
        list_users().unwrap();
        i.authorize(&root(M), "iam:CreateUser", &user(M), &[], None, &info)
            .unwrap();
        // An allow-list SCP at the OU without the action: implicitly denied.
        i.detach_org_policy(M, &p.id, &ou.id).unwrap();
        let only_s3 = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        let s3 = i.create_org_policy(M, "only-s3", "", SCP, only_s3).unwrap();
        i.attach_org_policy(M, &s3.id, &ou.id).unwrap();
        i.detach_org_policy(M, "p-FullAWSAccess", &ou.id).unwrap();
        let e = list_users().unwrap_err();
        assert!(
            e.message.contains("service control policy"),
            "{}",
            e.message
        );
        // The context names the organization and the path.
        let c = i.context(&root(&prod), &info).unwrap();
        let dbg = format!("{c:?}");
        assert!(dbg.contains(&o.id) && dbg.contains(&ou.id), "{dbg}");
        // The view is read once: an IAM write leaves it, an organization
        // write retires it.
        let before = i.org_view(&prod).unwrap().unwrap();
        i.create_user(&prod, "someone", None, vec![], None, 0)
            .unwrap();
        assert!(Arc::ptr_eq(&before, &i.org_view(&prod).unwrap().unwrap()));
        i.attach_org_policy(M, "p-FullAWSAccess", &ou.id).unwrap();
        let after = i.org_view(&prod).unwrap().unwrap();
        assert!(!Arc::ptr_eq(&before, &after));
        list_users().unwrap();
    }

    #[test]
    fn rcps_bind_member_resources_of_the_services_they_govern() {
        use crate::auth::Target;
        let i = Iam::new(
            Arc::new(MemStore::new()),
            Sealer::new(&Sealer::generate_key()),
        );
        i.ensure_account(M, 0).unwrap();
        let o = i.create_organization(M, None, 0).unwrap();
        let prod = i
            .create_org_account(M, "prod", "p@example.com", None, 0)
            .unwrap()
            .account_id
            .unwrap();
        i.set_policy_type(M, &o.root_id, RCP, true).unwrap();
        // Only principals of the organization may reach its S3 objects.
        let doc = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{{"StringNotEqualsIfExists":{{"aws:PrincipalOrgID":"{}"}}}}}}]}}"#,
            o.id
        );
        let p = i.create_org_policy(M, "org-only", "", RCP, &doc).unwrap();
        i.attach_org_policy(M, &p.id, &prod).unwrap();
        let info = RequestInfo {
            now: 0,
            region: "us-east-1".into(),
            ..RequestInfo::default()
        };
        let bucket_policy = |who: &str| {
            let d = format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{who}"}},"Action":"s3:GetObject","Resource":"*"}}]}}"#
            );
            PolicySet::from_policies([
                ward_policy::Policy::parse("b", &d, PolicyType::Resource).unwrap()
            ])
        };
        let decide = |caller: &Caller, who: &str| {
            let t = Target {
                resource: "arn:aws:s3:::prod-data/k",
                account: Some(&prod),
                policy: Some(bucket_policy(who)),
            };
            i.decide(caller, "s3:GetObject", &t, &[], &info, |_, d| {
                (
                    d.decision.as_str().to_string(),
                    d.decided_by.map(|t| t.as_str().to_string()),
                )
            })
            .unwrap()
        };
        // An outsider the bucket policy names is still denied by the RCP.
        i.ensure_account("999999999999", 0).unwrap();
        let outsider = root("999999999999");
        assert_eq!(
            decide(&outsider, "arn:aws:iam::999999999999:root"),
            ("explicitDeny".to_string(), Some("rcp".to_string()))
        );
        // The management account's root, in the organization, is allowed.
        assert_eq!(
            decide(&root(M), &format!("arn:aws:iam::{M}:root")).0,
            "allowed"
        );
        // RCPs do not govern IAM.
        i.authorize(
            &root(&prod),
            "iam:ListUsers",
            &format!("arn:aws:iam::{prod}:user/x"),
            &[],
            None,
            &info,
        )
        .unwrap();
    }
}
