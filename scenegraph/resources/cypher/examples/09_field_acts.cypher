// What happens in a field: the acts of scenes set in silence, most frequent first.
MATCH (s:Scene)-[:HAS]->(:Component {kind: 'field', name: 'тишина'})
MATCH (s)-[:HAS]->(act:Component {kind: 'act'})
RETURN act.name AS act, count(s) AS scenes
ORDER BY scenes DESC, act;
