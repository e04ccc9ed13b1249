// The metric families issue 6 and architecture.md §3.3 ask /metrics to show, with their
// Prometheus types: one list for the unit test of the renderer and the 3-node test.

export const REQUIRED_METRIC_FAMILIES: Readonly<Record<string, string>> = {
  carillon_totem_ring_seq: 'gauge',
  carillon_totem_members: 'gauge',
  carillon_totem_state: 'gauge',
  carillon_totem_token_rotation_seconds: 'histogram',
  carillon_totem_mcast_retransmits_total: 'counter',
  carillon_totem_token_lost_total: 'counter',
  carillon_membership_changes_total: 'counter',
  carillon_quorum_quorate: 'gauge',
  carillon_quorum_votes: 'gauge',
  carillon_quorum_expected_votes: 'gauge',
  carillon_cpg_groups: 'gauge',
  carillon_cpg_delivered_total: 'counter',
  carillon_ipc_clients: 'gauge',
  carillon_asterisk_ami_connected: 'gauge',
  carillon_bridge_events_total: 'counter',
  carillon_schedmiss_seconds: 'histogram',
  nodejs_eventloop_lag_seconds: 'gauge',
};
