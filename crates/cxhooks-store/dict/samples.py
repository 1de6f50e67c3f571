# Sample notifications for training the payload dictionary: python3 samples.py DIR SEED COUNT
import json, random, uuid, time, sys, os
random.seed(int(sys.argv[2]))
cat=json.load(open('/work/shared/catalog/carerix-fields.json'))['entities']
paths={}
for ent,v in cat.items():
    ps=[]
    for f in v['fields']:
        ps.append(f['path'])
        if f.get('altPath'): ps.append(f['altPath'])
    paths[ent]=ps
words=["acme","hiredata","bench0","staffing","recruit","jobs","talent","demo","cx","northwind","contoso"]
def v7():
    ms=int(time.time()*1000)+random.randint(-10**10,10**10)
    b=bytearray(os.urandom(16)); b[0:6]=ms.to_bytes(6,'big'); b[6]=(b[6]&0x0f)|0x70; b[8]=(b[8]&0x3f)|0x80
    return str(uuid.UUID(bytes=bytes(b)))
out=sys.argv[1]
for i in range(int(sys.argv[3])):
    ent=random.choice(list(cat))
    act=random.choice(["updated","updated","updated","created","deleted"])
    t=time.gmtime(time.time()+random.randint(-3*10**7,3*10**7))
    ping=random.random()<0.02
    r=random.random()
    eid = str(random.randint(1,99999)) if r<0.7 else (f"{random.randint(10**15,2*10**15)}-{random.randint(0,9)}-{random.randint(0,9)}" if r<0.9 else str(uuid.uuid4()))
    if ping:
        typ="cxhooks:ping"; data={"entityId":"","changedFields":[]}
    else:
        typ=f"{ent}:{act}"
        n=random.choice([1,1,2,2,3,4,6])
        cf=sorted(set(random.sample(paths[ent],min(n,len(paths[ent])))))
        if random.random()<0.8: cf.append("modificationdate")
        data={"entityId":eid,"changedFields":cf}
    tenant=random.choice(words)+(str(random.randint(0,99)) if random.random()<0.3 else "")
    d={"id":v7(),"time":time.strftime("%Y-%m-%dT%H:%M:%SZ",t),"type":typ,"applicationId":str(uuid.uuid4()),"webhookId":str(uuid.uuid4()),"tenant":tenant,"data":data}
    open(f"{out}/{i}.json","w").write(json.dumps(d,separators=(',',':')))
