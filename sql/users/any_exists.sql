-- Whether the database has any user yet (an empty database gets the demo data set).
-- Parameters: none
SELECT EXISTS (SELECT 1 FROM users);
