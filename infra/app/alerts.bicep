// Alerts that arrive by themselves: log search alert rules over the app's Application Insights
// (the `traces` table, where the audit events and run summaries land) and one action group
// that e-mails the addresses in ALERT_EMAILS. Deployed only when ALERT_EMAILS is set.
// Each rule's query is a file under infra/queries, the same text the workbook shows under
// "Needs a person"; docs/monitoring.md says what each alert means and what to do, and why
// its severity and frequency are what they are.
param location string
param tags object
@description('Resource id of the Application Insights component the app logs to.')
param insightsId string
@description('Name of the action group.')
param actionGroupName string
@description('Comma-separated e-mail addresses the alerts go to.')
param alertEmails string

// The addresses, without blanks and without empty entries (a trailing comma, ",,"), which the
// action group would refuse. Plain string functions rather than filter(): checkov's Bicep
// parser cannot read a lambda. Commas become spaces so trim() drops the leading and trailing
// ones; six halvings collapse up to 64 separators in a row.
var spaced = trim(replace(replace(alertEmails, ' ', ''), ',', ' '))
var collapsed = replace(replace(replace(replace(replace(replace(spaced, '  ', ' '), '  ', ' '), '  ', ' '), '  ', ' '), '  ', ' '), '  ', ' ')
var emails = empty(collapsed) ? [] : split(collapsed, ' ')

// Every rule fires on any row (Count > 0) in its window, and the window is the evaluation
// period, so each event falls in exactly one window. The rules are stateless
// (autoMitigate false): every window with a new event notifies again, and an alert stays
// fired until someone closes it. Severity: 0 critical, 1 error, 2 warning, 3 informational.
var rules = [
  {
    name: 'protected-target'
    displayName: 'MFA reset: a protected account was asked for'
    description: 'Someone asked to reset the MFA of an account with a path to a directory role, a protected group or the deny list; the app refused. Check with the requester and the ticket: this is how a social-engineering attack on an administrator looks.'
    severity: 1
    frequency: 'PT5M'
    query: loadTextContent('../queries/alert-protected-target.kql')
  }
  {
    name: 'limit-reached'
    displayName: 'MFA reset: a blast-radius limit was reached'
    description: 'Resets per hour for the tenant, resets of one user per day, or dry runs of one caller per hour reached their limit; the request was refused. Find out who is asking for so many (caller, requester) before raising a limit.'
    severity: 1
    frequency: 'PT5M'
    query: loadTextContent('../queries/alert-limit-reached.kql')
  }
  {
    name: 'graph-permission-missing'
    displayName: 'MFA reset: Graph refused a call for lack of permission (403)'
    description: 'Graph answered 403 to the managed identity: a Graph application permission is missing (typically after a deployment with GRANT_GRAPH_PERMISSIONS=false, or a revoked grant). Resets fail until it is granted.'
    severity: 1
    frequency: 'PT15M'
    query: loadTextContent('../queries/alert-graph-permission-missing.kql')
  }
  {
    name: 'reset-given-up'
    displayName: 'MFA reset: a reset was given up'
    description: 'A reset ended failed after every retry: the poison queue gave up on it, or a scheduled run stopped re-driving it. The user still needs their reset; the detail says why and what was done.'
    severity: 2
    frequency: 'PT15M'
    query: loadTextContent('../queries/alert-reset-given-up.kql')
  }
  {
    name: 'scheduled-run-errors'
    displayName: 'MFA reset: a scheduled run had errors'
    description: 'A part of the scheduled run (group sweep, re-drive, callbacks, retention) failed; the others ran. The next run tries again; the errors say what to fix.'
    severity: 2
    frequency: 'PT1H'
    query: loadTextContent('../queries/alert-scheduled-run-errors.kql')
  }
  {
    name: 'callback-failed'
    displayName: 'MFA reset: a completion callback failed'
    description: 'Every attempt to tell the ticketing system how a reset ended failed (or its host is no longer allowed). The reset itself is unaffected: update the ticket by hand, and check the receiving end.'
    severity: 3
    frequency: 'PT30M'
    query: loadTextContent('../queries/alert-callback-failed.kql')
  }
  {
    name: 'reset-disputed'
    displayName: 'MFA reset: a user says a reset was not theirs'
    description: 'Someone who received the notification of an MFA reset pressed "this wasn\'t me" after it ran: the new factor may be in an attacker\'s hands. Nothing was undone. Call the user on a number you already know, revoke their sessions, remove what the reset registered and check the requester and the ticket.'
    severity: 1
    frequency: 'PT5M'
    query: loadTextContent('../queries/alert-reset-disputed.kql')
  }
]

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'mfareset'
    enabled: true
    emailReceivers: [for (email, i) in emails: {
      name: 'email-${i}'
      emailAddress: email
      useCommonAlertSchema: true
    }]
  }
}

resource rule 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for r in rules: {
  name: 'mfa-reset-${r.name}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: r.displayName
    description: r.description
    severity: r.severity
    enabled: true
    scopes: [ insightsId ]
    evaluationFrequency: r.frequency
    windowSize: r.frequency
    criteria: {
      allOf: [
        {
          query: r.query
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: [ actionGroup.id ]
    }
  }
}]

output actionGroupId string = actionGroup.id
