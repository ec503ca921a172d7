"""API keys over HTTP: an account lists its keys (ids, never secrets), makes a new one,
and revokes one, after which that key gets 401 at once and the others still work;
another account's key cannot be revoked by it (404); the admin revokes any key."""

from __future__ import annotations

ADMIN = {"authorization": "Bearer test-admin-token"}


def test_an_account_revokes_its_key_and_the_key_stops_working(harness):
    a = harness.account(["+15550100"])
    b = harness.account(["+15550200"])
    r = harness.client.post("/v1/account/keys", headers=a.auth)
    assert r.status_code == 201
    second = r.json()["api_key"]
    second_id = r.json()["key_id"]
    first_id = a.key.split("_")[1]
    listed = harness.client.get("/v1/account/keys", headers=a.auth).json()["keys"]
    assert [k["key_id"] for k in listed] == [first_id, second_id]
    assert all(k["revoked_at"] is None and "secret" not in str(k) for k in listed)
    # b cannot revoke a's key
    r = harness.client.delete(f"/v1/account/keys/{first_id}", headers=b.auth)
    assert r.status_code == 404
    assert harness.client.get("/v1/account", headers=a.auth).status_code == 200
    # a revokes its first key with the second
    r = harness.client.delete(f"/v1/account/keys/{first_id}",
                              headers={"authorization": f"Bearer {second}"})
    assert r.status_code == 200 and r.json() == {"key_id": first_id, "revoked": True}
    r = harness.client.get("/v1/account", headers=a.auth)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert harness.client.get("/v1/account",
                              headers={"authorization": f"Bearer {second}"}).status_code == 200
    assert harness.client.delete(f"/v1/account/keys/{first_id}",
                                 headers={"authorization": f"Bearer {second}"}
                                 ).status_code == 404   # already revoked
    (rev,) = harness.rows("SELECT revoked_at IS NOT NULL FROM api_keys WHERE key_id = ?",
                          (first_id,))
    assert rev == (True,)
    # the admin revokes b's key
    b_id = b.key.split("_")[1]
    assert harness.client.delete(f"/v1/admin/keys/{b_id}", headers=ADMIN).status_code == 200
    assert harness.client.get("/v1/account", headers=b.auth).status_code == 401
    assert harness.client.delete("/v1/admin/keys/00000000", headers=ADMIN).status_code == 404
    assert harness.client.delete(f"/v1/admin/keys/{b_id}", headers=a.auth).status_code == 401
