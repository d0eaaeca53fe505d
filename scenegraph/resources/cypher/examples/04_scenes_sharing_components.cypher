// Pairs of scenes that share the most components.
MATCH (a:Scene)-[:HAS]->(c:Component)<-[:HAS]-(b:Scene)
WHERE a.id < b.id
RETURN a.id AS first, b.id AS second, count(c) AS shared
ORDER BY shared DESC, first, second
LIMIT 15;
