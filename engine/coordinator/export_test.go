package coordinator

// OpenShortTestGrant opens a test grant of any length, so a test need not
// wait the minute OpenTestGrant asks at least.
var OpenShortTestGrant = (*Coordinator).openTestGrant
