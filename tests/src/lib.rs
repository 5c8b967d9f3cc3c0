//! Test suites written once and run against every store backend.
//!
//! * [`conformance`]: the [`Store`](runtime::store::Store) contract, including the attack on the
//!   cursor invariant with concurrent senders and interleaved pollers.
//! * [`conversations`]: the inbox, history, read positions and membership entries.
//! * [`api`]: every route and every error of the HTTP contract, in-process through `oneshot`.
//! * [`authorization`]: every authenticated route × every wrong credential.
//! * [`identity`]: the store's app users and sessions; [`sessions`]: their routes;
//!   [`sign_in`]: identity tokens of a provider on loopback ([`identity_provider`]).
//!
//! A backend's test file provides an async constructor returning `Option<Backend>` (`None`: the
//! backend is not available here, so the test is skipped) and expands
//! [`store_conformance_tests!`] and [`api_tests!`] with it, which gives one `#[test]` per case.

pub mod api;
pub mod authorization;
pub mod backend;
pub mod chaos;
pub mod client;
pub mod conformance;
pub mod conversations;
pub mod conversations_api;
pub mod crash;
pub mod delivery;
pub mod fixtures;
pub mod identity;
pub mod identity_provider;
pub mod lambda_events;
pub mod process;
pub mod push_recorder;
pub mod sessions;
pub mod sign_in;
pub mod stream;
pub mod transport;
pub mod usage;

pub use backend::Backend;

/// One `#[tokio::test]` per case of a suite module, each on a fresh backend.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_tests {
    ($backend:path, $suite:ident: $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let Some(backend) = $backend().await else { return };
                $crate::$suite::$case(&backend).await;
            }
        )*
    };
}

/// Expands to the whole store conformance suite for the backend built by `$backend().await`.
#[macro_export]
macro_rules! store_conformance_tests {
    ($backend:path) => {
        $crate::__suite_tests!($backend, conformance:
            users_round_trip,
            blocks_are_idempotent_and_listed_in_id_order,
            group_membership_follows_the_rules,
            owner_leaving_passes_ownership_and_empty_groups_stay_closed,
            direct_messages_reach_both_feeds_and_self_messages_once,
            blocks_stop_direct_messages_but_not_group_messages,
            group_messages_follow_membership_over_time,
            feed_pages_are_ordered_and_has_more_is_exact,
            client_id_replays_and_conflicts,
            cursor_invariant_holds_under_concurrent_senders_and_pollers,
        );
        $crate::__suite_tests!($backend, conversations:
            the_inbox_orders_conversations_and_counts_unread,
            history_pages_both_ways_without_skipping_or_repeating,
            read_positions_only_move_forward_and_every_device_sees_them,
            membership_reaches_the_feed_and_left_groups_keep_what_was_received,
            notes_to_self_and_blocked_senders,
            a_rename_reaches_every_conversation,
        );
        $crate::__suite_tests!($backend, identity:
            app_users_upsert_to_one_user_even_when_racing,
            a_refresh_token_rotates_once_and_a_replay_revokes_the_session,
            two_presentations_at_once_rotate_once_and_revoke,
            sessions_are_revoked_one_at_a_time_or_all_together,
            erasing_an_app_user_leaves_nothing_of_theirs,
        );
    };
}

/// Expands to the whole API suite for the backend built by `$backend().await`.
#[macro_export]
macro_rules! api_tests {
    ($backend:path) => {
        $crate::__suite_tests!($backend, api:
            registration_and_user_lookup,
            bad_request_bodies_get_json_errors,
            authentication_is_required_and_checked,
            blocks_routes,
            group_routes_and_their_errors,
            membership_authorization_comes_before_existence,
            direct_message_routes_and_their_errors,
            group_message_routes_and_their_errors,
            idempotent_sends_over_http,
            polling_with_cursors,
            cursor_and_limit_errors,
            system_routes_and_fallbacks,
            rate_limit_answers_429_with_retry_after,
            ordinary_bursts_are_not_rate_limited,
        );
        $crate::__suite_tests!($backend, conversations_api: conversation_routes_and_their_errors);
        $crate::__suite_tests!($backend, authorization: every_route_refuses_every_wrong_credential);
        $crate::__suite_tests!($backend, sessions:
            registration_starts_a_session_that_refreshes_and_signs_out,
            access_tokens_expire_and_a_refresh_renews_them,
            app_mode_closes_registration_and_the_server_api_makes_users,
            the_server_key_and_user_tokens_open_only_their_own_routes,
            the_server_api_erases_a_user,
        );
        $crate::__suite_tests!($backend, sign_in:
            identity_tokens_sign_in_the_same_user_each_time,
            every_failed_check_is_refused_with_its_reason,
            keys_rotate_and_unknown_keys_refetch_at_most_once_a_minute,
            hs256_tokens_verify_with_the_shared_secret_only,
            an_unreachable_provider_is_a_503_and_no_provider_a_401,
        );
    };
}
