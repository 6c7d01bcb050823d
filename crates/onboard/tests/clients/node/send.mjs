// Segment's official Node.js client (@segment/analytics-node), unchanged, pointed at
// Onboard's usage intake. Usage: node send.mjs <base-url> <write-key> <user-id> <email> <domain>
// Sends identify, group, track and page for the user, flushes, and exits non-zero if any
// delivery failed.
import { Analytics } from '@segment/analytics-node'

const [host, writeKey, userId, email, domain] = process.argv.slice(2)
const analytics = new Analytics({ writeKey, host, path: '/v1/batch', maxRetries: 2 })
let failed = false
analytics.on('error', (error) => {
  failed = true
  console.error('delivery failed:', error?.reason ?? error)
})

analytics.identify({ userId, traits: { email, name: 'Ada Admin' } })
analytics.group({ userId, groupId: `org-${domain}`, traits: { name: 'Acme', domain } })
analytics.track({ userId, event: 'Lead Imported', properties: { count: 12 } })
analytics.page({ userId, name: 'Pipeline', properties: { path: '/pipeline' } })
await analytics.closeAndFlush({ timeout: 20000 })
process.exit(failed ? 1 : 0)
