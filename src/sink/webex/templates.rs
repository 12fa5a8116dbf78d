//! The built-in Webex messages, one per provider, in the spirit of the SD-WAN one: what happened,
//! where, when (in the sink's time zone), the provider's own details, and a link back to the
//! platform. Every printed value is Markdown-escaped by the formatter (see `render.rs`).

/// Events whose CloudEvents `type` starts with the prefix get the template.
pub const BUILT_IN: &[(&str, &str, &str)] = &[
    ("sdwan", "com.cisco.sdwan.alarm.", SDWAN),
    ("meraki", "com.cisco.meraki.", MERAKI),
    (
        "catalyst_center",
        "com.cisco.catalystcenter.",
        CATALYST_CENTER,
    ),
    ("thousandeyes", "com.thousandeyes.", THOUSANDEYES),
    ("intersight", "com.cisco.intersight.", INTERSIGHT),
];

/// The headline's state: cleared, or the severity, each with its marker (the `severity_marker`
/// filter, shared by every template: 🔴 critical, 🟠 major, 🟡 minor, ⚠️ warning, 🔵 info, ✅
/// cleared).
macro_rules! headline {
    () => {
        r#"{{ event | severity_marker }} {% if event.alarmstate == "cleared" %}Cleared{% else %}{{ event.severity | upper }}{% endif %}"#
    };
}

pub const SDWAN: &str = concat!(
    headline!(),
    r#" · SD-WAN alarm **{{ event.data.rule_name_display }}** on **{{ event.device }}**
- **Time:** {{ time }}
- **Severity:** {{ event.data.severity }}
{%- if event.data.message %}
- **Message:** {{ event.data.message }}
{%- endif %}
{%- for entity in event.data.values_short_display %}{% for key, value in entity | items %}
- **{{ key }}:** {{ value }}
{%- endfor %}{% endfor %}
{%- if event.link | link_url %}

[Open in SD-WAN Manager]({{ event.link | link_url }})
{%- endif %}"#
);

pub const MERAKI: &str = concat!(
    headline!(),
    r#" · Meraki **{{ event.data.alertType }}** on **{{ event.device }}**
- **Time:** {{ time }}
{%- if event.data.networkName %}
- **Network:** {{ event.data.networkName }}{% if event.data.organizationName %} ({{ event.data.organizationName }}){% endif %}
{%- endif %}
{%- if event.data.deviceSerial %}
- **Device:** {{ event.data.deviceName or event.data.deviceSerial }} · {{ event.data.deviceModel }} · {{ event.data.deviceSerial }}
{%- endif %}
{%- for key, value in (event.data.alertData or {}) | items %}{% if value is string or value is number %}
- **{{ key }}:** {{ value }}
{%- endif %}{% endfor %}
{%- if event.link | link_url %}

[Open in Meraki Dashboard]({{ event.link | link_url }})
{%- endif %}"#
);

pub const CATALYST_CENTER: &str = concat!(
    headline!(),
    r#" · Catalyst Center **{{ event.data.details["Assurance Issue Name"] or event.summary }}** on **{{ event.device }}**
- **Time:** {{ time }}
{%- if event.data.details["Assurance Issue Priority"] %}
- **Priority:** {{ event.data.details["Assurance Issue Priority"] }}{% if event.data.details["Assurance Issue Category"] %} · {{ event.data.details["Assurance Issue Category"] }}{% endif %}
{%- endif %}
{%- if event.data.details["Assurance Issue Status"] %}
- **Status:** {{ event.data.details["Assurance Issue Status"] }}
{%- endif %}
{%- if event.data.details["Assurance Issue Details"] %}
- **Details:** {{ event.data.details["Assurance Issue Details"] }}
{%- endif %}
- **Event:** {{ event.data.eventId }}{% if event.data.domain %} ({{ event.data.domain }}{% if event.data.subDomain %} / {{ event.data.subDomain }}{% endif %}){% endif %}
{%- if event.link | link_url %}

[Open in Catalyst Center]({{ event.link | link_url }})
{%- endif %}"#
);

pub const THOUSANDEYES: &str = concat!(
    headline!(),
    r#" · ThousandEyes **{{ event.data.alert.ruleName }}** on **{{ event.device }}**
- **Time:** {{ time }}
{%- if event.data.alert.ruleExpression %}
- **Rule:** {{ event.data.alert.ruleExpression }}
{%- endif %}
{%- if event.data.alert.type %}
- **Test type:** {{ event.data.alert.type }}
{%- endif %}
{%- if event.data.alert.violationCount %}
- **Violations:** {{ event.data.alert.violationCount }}
{%- endif %}
{%- for agent in (event.data.alert.agents or [])[:5] %}
- **Agent:** {{ agent.agentName }}{% if agent.metricsAtStart %} · {{ agent.metricsAtStart }}{% endif %}
{%- endfor %}
{%- if event.link | link_url %}

[Open in ThousandEyes]({{ event.link | link_url }})
{%- endif %}"#
);

pub const INTERSIGHT: &str = concat!(
    headline!(),
    r#" · Intersight {% if event.data.Event.Code %}**{{ event.data.Event.Code }}**{% else %}**{{ event.data.EventObjectType }}** {{ event.data.Operation }}{% endif %} on **{{ event.device }}**
- **Time:** {{ time }}
{%- if event.data.Event.Description %}
- **Description:** {{ event.data.Event.Description }}
{%- endif %}
{%- if event.data.Event.Severity %}
- **Severity:** {{ event.data.Event.Severity }}{% if event.data.Event.OrigSeverity and event.data.Event.OrigSeverity != event.data.Event.Severity %} (was {{ event.data.Event.OrigSeverity }}){% endif %}
{%- endif %}
{%- if event.data.Event.AffectedMoType %}
- **Affected:** {{ event.data.Event.AffectedMoType }} {{ event.data.Event.AffectedMoDisplayName }}
{%- endif %}
{%- if event.data.Event.Status %}
- **Status:** {{ event.data.Event.Status }}
{%- endif %}
{%- if event.link | link_url %}

[Open in Intersight]({{ event.link | link_url }})
{%- endif %}"#
);

/// The built-in message for any other event.
pub const GENERIC: &str = r#"{{ event | severity_marker }} **{% if event.alarmstate == "cleared" %}CLEARED{% else %}{{ event.severity | upper }}{% endif %}** · {{ event.device }}: {{ event.summary }}
- **Event:** {{ event.type }}{% if event.alarmstate != "info" %} ({{ event.alarmstate }}){% endif %}
- **Time:** {{ time }}
{%- if event.link | link_url %}

[Details]({{ event.link | link_url }})
{%- endif %}"#;
