DROP TABLE oauth_clients;
DROP TABLE server_secrets;
