// The operations workbook: what the app did and what needs a person, in the Azure portal
// (Application Insights > Workbooks, or the resource group's Workbooks). Every query is a file
// under infra/queries, shared with the alert rules (alerts.bicep) and docs/monitoring.md; they
// read the audit events and run summaries the app logs as traces of this Application Insights
// resource, so every query item targets it (queryType 0: logs).
param location string
param tags object
@description('Resource id of the Application Insights component the app logs to.')
param insightsId string

// Every log query item: against this Application Insights resource, over the time range picked
// at the top (the queries themselves carry no time filter, so the alerts can share them).
var logs = {
  version: 'KqlItem/1.0'
  queryType: 0
  resourceType: 'microsoft.insights/components'
  crossComponentResources: [ insightsId ]
  timeContextFromParameter: 'TimeRange'
  timeContext: { durationMs: 604800000 }
  size: 0
}
var nothingToDo = {
  noDataMessage: 'Nothing in this time range.'
  noDataMessageStyle: 3
}

var workbook = {
  version: 'Notebook/1.0'
  fallbackResourceIds: [ insightsId ]
  items: [
    {
      type: 1
      name: 'intro'
      content: {
        json: '''
# MFA reset: operations

What the app did, from its audit events (`mfa-reset-audit`) and scheduled-run summaries
(`mfa-reset-cleanup`) in Application Insights. **Needs a person** lists what the alert rules
fire on; the sections below show the trend. What each alert means and what to do: the
repository's `docs/monitoring.md`.
'''
      }
    }
    {
      type: 9
      name: 'parameters'
      content: {
        version: 'KqlParameterItem/1.0'
        style: 'pills'
        queryType: 0
        resourceType: 'microsoft.insights/components'
        parameters: [
          {
            id: '6f0d3c8e-4b7a-4f0e-9a51-2c1f0b6d7e10'
            version: 'KqlParameterItem/1.0'
            name: 'TimeRange'
            label: 'Time range'
            type: 4
            isRequired: true
            value: { durationMs: 604800000 }
            typeSettings: {
              selectableValues: [
                { durationMs: 3600000 }
                { durationMs: 86400000 }
                { durationMs: 259200000 }
                { durationMs: 604800000 }
                { durationMs: 1209600000 }
                { durationMs: 2592000000 }
                { durationMs: 7776000000 }
              ]
              allowCustom: true
            }
          }
        ]
      }
    }
    {
      type: 12
      name: 'needs-a-person'
      content: {
        version: 'NotebookGroup/1.0'
        groupType: 'editable'
        title: 'Needs a person'
        items: [
          {
            type: 3
            name: 'protected-target'
            customWidth: '50'
            content: union(logs, nothingToDo, {
              title: 'Protected accounts someone tried to reset'
              query: loadTextContent('../queries/alert-protected-target.kql')
              visualization: 'table'
            })
          }
          {
            type: 3
            name: 'limit-reached'
            customWidth: '50'
            content: union(logs, nothingToDo, {
              title: 'Blast-radius limits reached'
              query: loadTextContent('../queries/alert-limit-reached.kql')
              visualization: 'table'
            })
          }
          {
            type: 3
            name: 'reset-given-up'
            customWidth: '50'
            content: union(logs, nothingToDo, {
              title: 'Resets given up (poison queue, re-drive)'
              query: loadTextContent('../queries/alert-reset-given-up.kql')
              visualization: 'table'
            })
          }
          {
            type: 3
            name: 'graph-permission-missing'
            customWidth: '50'
            content: union(logs, nothingToDo, {
              title: 'Graph refused for lack of permission (403)'
              query: loadTextContent('../queries/alert-graph-permission-missing.kql')
              visualization: 'table'
            })
          }
          {
            type: 3
            name: 'scheduled-run-errors'
            customWidth: '50'
            content: union(logs, nothingToDo, {
              title: 'Scheduled runs with errors'
              query: loadTextContent('../queries/alert-scheduled-run-errors.kql')
              visualization: 'table'
            })
          }
          {
            type: 3
            name: 'callback-failed'
            customWidth: '50'
            content: union(logs, nothingToDo, {
              title: 'Completion callbacks that failed'
              query: loadTextContent('../queries/alert-callback-failed.kql')
              visualization: 'table'
            })
          }
          {
            type: 3
            name: 'reset-disputed'
            customWidth: '50'
            content: union(logs, nothingToDo, {
              title: 'Resets a notified user says were not theirs'
              query: loadTextContent('../queries/alert-reset-disputed.kql')
              visualization: 'table'
            })
          }
        ]
      }
    }
    {
      type: 12
      name: 'resets'
      content: {
        version: 'NotebookGroup/1.0'
        groupType: 'editable'
        title: 'Resets'
        items: [
          {
            type: 3
            name: 'resets-by-outcome'
            customWidth: '50'
            content: union(logs, {
              title: 'Resets per day by outcome'
              query: loadTextContent('../queries/resets-by-outcome.kql')
              visualization: 'barchart'
              chartSettings: {
                xAxis: 'day'
                yAxis: [ 'resets' ]
                group: 'outcome'
                showLegend: true
                seriesLabelSettings: [
                  { seriesName: 'succeeded', color: 'green' }
                  { seriesName: 'failed', color: 'red' }
                  { seriesName: 'refused', color: 'orange' }
                  { seriesName: 'previewed', color: 'blue' }
                ]
              }
            })
          }
          {
            type: 3
            name: 'reset-durations'
            customWidth: '50'
            content: union(logs, {
              title: 'Accepted to finished, seconds (median and 95th percentile, per day)'
              query: loadTextContent('../queries/reset-durations.kql')
              visualization: 'linechart'
              chartSettings: {
                xAxis: 'day'
                yAxis: [ 'median_seconds', 'p95_seconds' ]
                showLegend: true
              }
            })
          }
          {
            type: 3
            name: 'latest-resets'
            content: union(logs, {
              title: 'Latest resets (ticket, target, caller, status, Graph request-ids)'
              query: loadTextContent('../queries/latest-resets.kql')
              visualization: 'table'
            })
          }
        ]
      }
    }
    {
      type: 12
      name: 'refusals-and-callers'
      content: {
        version: 'NotebookGroup/1.0'
        groupType: 'editable'
        title: 'Refusals and callers'
        items: [
          {
            type: 3
            name: 'refusals-by-reason'
            customWidth: '34'
            content: union(logs, {
              title: 'Refusals by reason'
              query: loadTextContent('../queries/refusals-by-reason.kql')
              visualization: 'piechart'
            })
          }
          {
            type: 3
            name: 'top-callers'
            customWidth: '33'
            content: union(logs, {
              title: 'Top callers (applications)'
              query: loadTextContent('../queries/top-callers.kql')
              visualization: 'table'
            })
          }
          {
            type: 3
            name: 'top-requesters'
            customWidth: '33'
            content: union(logs, {
              title: 'Top requesters (who asked)'
              query: loadTextContent('../queries/top-requesters.kql')
              visualization: 'table'
            })
          }
        ]
      }
    }
    {
      type: 12
      name: 'graph'
      content: {
        version: 'NotebookGroup/1.0'
        groupType: 'editable'
        title: 'Failed Graph steps'
        items: [
          {
            type: 3
            name: 'failed-steps-chart'
            customWidth: '50'
            content: union(logs, {
              title: 'Failed steps by Graph error code and method type'
              query: loadTextContent('../queries/failed-steps.kql')
              visualization: 'categoricalbar'
              chartSettings: {
                xAxis: 'graph_code'
                yAxis: [ 'failed_steps' ]
                group: 'method'
                showLegend: true
              }
            })
          }
          {
            type: 3
            name: 'failed-steps-table'
            customWidth: '50'
            content: union(logs, nothingToDo, {
              title: 'Failed steps'
              query: loadTextContent('../queries/failed-steps.kql')
              visualization: 'table'
            })
          }
        ]
      }
    }
    {
      type: 12
      name: 'scheduled-runs'
      content: {
        version: 'NotebookGroup/1.0'
        groupType: 'editable'
        title: 'Scheduled runs'
        items: [
          {
            type: 3
            name: 'scheduled-runs-chart'
            content: union(logs, {
              title: 'Swept, queued, deferred, removed from the group, errors'
              query: loadTextContent('../queries/scheduled-runs.kql')
              visualization: 'barchart'
              chartSettings: {
                xAxis: 'timestamp'
                yAxis: [ 'swept', 'queued', 'deferred', 'removed_from_group', 'errors' ]
                showLegend: true
              }
            })
          }
          {
            type: 3
            name: 'scheduled-runs-table'
            content: union(logs, {
              title: 'Runs'
              query: loadTextContent('../queries/scheduled-runs.kql')
              visualization: 'table'
            })
          }
        ]
      }
    }
    {
      type: 12
      name: 'callbacks'
      content: {
        version: 'NotebookGroup/1.0'
        groupType: 'editable'
        title: 'Completion callbacks'
        items: [
          {
            type: 3
            name: 'callbacks-by-host'
            content: union(logs, {
              title: 'Delivered and failed, by host'
              query: loadTextContent('../queries/callbacks-by-host.kql')
              visualization: 'categoricalbar'
              chartSettings: {
                xAxis: 'host'
                yAxis: [ 'delivered', 'failed' ]
                showLegend: true
                seriesLabelSettings: [
                  { seriesName: 'delivered', color: 'green' }
                  { seriesName: 'failed', color: 'red' }
                ]
              }
            })
          }
        ]
      }
    }
    {
      type: 12
      name: 'notifications'
      content: {
        version: 'NotebookGroup/1.0'
        groupType: 'editable'
        title: 'Telling the user'
        items: [
          {
            type: 3
            name: 'notifications-per-day'
            content: union(logs, {
              title: 'Notifications sent, skipped and failed; resets stopped and disputed, per day'
              query: loadTextContent('../queries/notifications.kql')
              visualization: 'table'
            })
          }
          {
            type: 3
            name: 'proof-per-day'
            content: union(logs, {
              title: 'Proof before reset: presentations proven, and failed by rule, per day'
              query: loadTextContent('../queries/proof.kql')
              visualization: 'table'
            })
          }
        ]
      }
    }
  ]
}

resource operations 'Microsoft.Insights/workbooks@2023-06-01' = {
  // A workbook's name is a GUID: the same one on every deployment, so azd up updates it.
  name: guid(insightsId, 'mfa-reset-operations')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'MFA reset operations'
    category: 'workbook'
    version: 'Notebook/1.0'
    // Linked to Application Insights: listed under its Workbooks (and the resource group's).
    sourceId: toLower(insightsId)
    serializedData: string(workbook)
  }
}

output name string = operations.name
