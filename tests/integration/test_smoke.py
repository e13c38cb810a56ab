async def test_health_and_login_roundtrip(api):
    health = await api.get("/api/health")
    assert health["status"] == "healthy"
    user = await api.user()
    me = await api.get("/api/auth/me", user)
    assert me["email"] == user.email and me["is_admin"] is False
